package send_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/testkit"
	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
	"github.com/ferrydata/ferry/services/delivery/internal/send"
)

// natsConn starts an embedded NATS server (maxPayload 0: testkit's) and
// connects to it over TCP.
func natsConn(t *testing.T, maxPayload int32) *nats.Conn {
	t.Helper()
	url := ""
	if maxPayload == 0 {
		url = testkit.NATS(t).ClientURL()
	} else {
		ns, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", MaxPayload: maxPayload}, testkit.Log(t))
		require.NoError(t, err)
		t.Cleanup(func() {
			ns.Shutdown()
			ns.WaitForShutdown()
		})
		url = ns.ClientURL()
	}
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

func natsSpec(subject string, mod func(*ferryv1.NATSDestination)) *ferryv1.DestinationSpec {
	n := &ferryv1.NATSDestination{Subject: subject}
	if mod != nil {
		mod(n)
	}
	return &ferryv1.DestinationSpec{Kind: &ferryv1.DestinationSpec_Nats{Nats: n}}
}

// jsonl makes n rows {"id":from..}, each padded to about width bytes.
func jsonl(from, n, width int) string {
	var b strings.Builder
	for i := from; i < from+n; i++ {
		row := fmt.Sprintf(`{"id":%d,"pad":"`, i)
		row += strings.Repeat("x", max(0, width-len(row)-2)) + `"}`
		b.WriteString(row + "\n")
	}
	return b.String()
}

// collect subscribes to subject and returns a function that waits for n
// messages, then a moment for any extra; with n < 0 it takes messages
// until none comes for a moment.
func collect(t *testing.T, nc *nats.Conn, subject string) func(n int) []*nats.Msg {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	require.NoError(t, err)
	require.NoError(t, nc.Flush())
	return func(n int) []*nats.Msg {
		t.Helper()
		var out []*nats.Msg
		if n < 0 {
			for {
				m, err := sub.NextMsg(500 * time.Millisecond)
				if err != nil {
					require.ErrorIs(t, err, nats.ErrTimeout)
					return out
				}
				out = append(out, m)
			}
		}
		for len(out) < n {
			m, err := sub.NextMsg(5 * time.Second)
			require.NoError(t, err, "message %d of %d", len(out)+1, n)
			out = append(out, m)
		}
		_, err := sub.NextMsg(100 * time.Millisecond)
		require.ErrorIs(t, err, nats.ErrTimeout, "no more messages")
		return out
	}
}

// rowIDs decodes the rows of messages, in order.
func rowIDs(t *testing.T, msgs []*nats.Msg) []int {
	t.Helper()
	var ids []int
	for _, m := range msgs {
		if len(m.Data) == 0 {
			continue
		}
		for _, line := range strings.Split(string(m.Data), "\n") {
			var r struct{ ID int }
			require.NoError(t, json.Unmarshal([]byte(line), &r), "%q", line)
			ids = append(ids, r.ID)
		}
	}
	return ids
}

func seq(from, to int) []int {
	var out []int
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func TestNATSRows(t *testing.T) {
	nc := natsConn(t, 0)
	const subject = "ferry.out.acme.orders.rows"
	wait := collect(t, nc, subject)
	a := memFile("a.jsonl", "jsonl", jsonl(1, 5, 20))
	// Blank lines are skipped, CRLF and a missing final newline are fine.
	b := memFile("b.jsonl", "jsonl", "\n"+strings.ReplaceAll(strings.TrimSuffix(jsonl(6, 3, 20), "\n"), "\n", "\r\n\n"))
	job := testJob(a, b)

	locs, err := send.NATS{Conn: nc}.Send(context.Background(), "bus", natsSpec("orders.rows", func(n *ferryv1.NATSDestination) { n.RowsPerMessage = 2 }), job)
	require.NoError(t, err)
	require.Equal(t, []string{subject}, locs)

	msgs := wait(5)
	require.Equal(t, seq(1, 8), rowIDs(t, msgs))
	want := []struct {
		file, seq, last string
		rows            int
	}{
		{"a.jsonl", "1", "", 2}, {"a.jsonl", "2", "", 2}, {"a.jsonl", "3", "", 1},
		{"b.jsonl", "1", "", 2}, {"b.jsonl", "2", "true", 1},
	}
	for i, w := range want {
		h := msgs[i].Header
		require.Equal(t, job.Run, h.Get("Ferry-Run"))
		require.Equal(t, "orders", h.Get("Ferry-Profile"))
		require.Equal(t, w.file, h.Get("Ferry-File"), i)
		require.Equal(t, w.seq, h.Get("Ferry-Seq"), i)
		require.Equal(t, w.last, h.Get("Ferry-Last"), i)
		require.Equal(t, subject+"/"+job.Run+"/"+w.file+"/"+w.seq, h.Get("Nats-Msg-Id"))
		require.Equal(t, w.rows, strings.Count(string(msgs[i].Data), "\n")+1, i)
	}

	// The default is 1000 rows a message.
	_, err = send.NATS{Conn: nc}.Send(context.Background(), "bus", natsSpec("orders.rows", nil), testJob(memFile("c.jsonl", "jsonl", jsonl(1, 2500, 30))))
	require.NoError(t, err)
	msgs = wait(3)
	require.Equal(t, seq(1, 2500), rowIDs(t, msgs))
	require.Equal(t, "true", msgs[2].Header.Get("Ferry-Last"))
}

func TestNATSRowsMaxPayload(t *testing.T) {
	const maxPayload = 2048
	nc := natsConn(t, maxPayload)
	const subject = "ferry.out.acme.small"
	wait := collect(t, nc, subject)

	job := testJob(memFile("a.jsonl", "jsonl", jsonl(1, 40, 300)))
	_, err := send.NATS{Conn: nc}.Send(context.Background(), "bus", natsSpec("small", nil), job)
	require.NoError(t, err)
	// 40 rows of 300 bytes and their headers need at least 7 messages of 2 KiB.
	all := wait(-1)
	require.GreaterOrEqual(t, len(all), 7)
	require.Equal(t, seq(1, 40), rowIDs(t, all))
	for _, m := range all {
		hdr := 0
		for k, vs := range m.Header {
			for _, v := range vs {
				hdr += len(k) + len(v) + 4
			}
		}
		hdr += len("NATS/1.0\r\n\r\n")
		require.LessOrEqual(t, len(m.Data)+hdr, maxPayload)
	}
	require.Equal(t, "true", all[len(all)-1].Header.Get("Ferry-Last"))

	// One row that no message can carry.
	job = testJob(memFile("b.jsonl", "jsonl", jsonl(1, 2, 100)+jsonl(3, 1, 4000)))
	_, err = send.NATS{Conn: nc}.Send(context.Background(), "bus", natsSpec("small", nil), job)
	requireClass(t, send.Permanent, err)
	require.ErrorContains(t, err, "row 3 of file b.jsonl")
}

func TestNATSRowsNeedJSONL(t *testing.T) {
	nc := natsConn(t, 0)
	wait := collect(t, nc, "ferry.out.>")
	job := testJob(memFile("a.jsonl", "jsonl", jsonl(1, 2, 20)), memFile("b.csv", "csv", "id\n1\n"))
	_, err := send.NATS{Conn: nc}.Send(context.Background(), "bus", natsSpec("orders", nil), job)
	requireClass(t, send.Permanent, err)
	require.ErrorContains(t, err, "NATS rows mode needs a JSONL export")
	wait(0)
}

func TestNATSEmptyRun(t *testing.T) {
	nc := natsConn(t, 0)
	wait := collect(t, nc, "ferry.out.acme.orders")
	job := testJob(memFile("a.jsonl", "jsonl", ""))
	_, err := send.NATS{Conn: nc}.Send(context.Background(), "bus", natsSpec("orders", nil), job)
	require.NoError(t, err)
	msgs := wait(1)
	require.Empty(t, msgs[0].Data)
	require.Equal(t, "true", msgs[0].Header.Get("Ferry-Last"))
	require.Equal(t, "a.jsonl", msgs[0].Header.Get("Ferry-File"))
}

func TestNATSJetStreamDedupe(t *testing.T) {
	nc := natsConn(t, 0)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FERRY_OUT", Subjects: []string{"ferry.out.>"}})
	require.NoError(t, err)

	job := testJob(memFile("a.jsonl", "jsonl", jsonl(1, 5, 20)), memFile("b.jsonl", "jsonl", jsonl(6, 2, 20)))
	s := send.NATS{Conn: nc, JS: js}
	spec := natsSpec("orders", func(n *ferryv1.NATSDestination) { n.RowsPerMessage = 2 })
	for attempt := 1; attempt <= 2; attempt++ {
		job.Attempt = attempt
		locs, err := s.Send(ctx, "bus", spec, job)
		require.NoError(t, err)
		require.Equal(t, []string{"ferry.out.acme.orders"}, locs)
	}
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 4, info.State.Msgs, "the retry added nothing")

	// Another destination whose subject the same stream captures is not
	// taken for a duplicate.
	_, err = s.Send(ctx, "bus2", natsSpec("orders.copy", func(n *ferryv1.NATSDestination) { n.RowsPerMessage = 2 }), job)
	require.NoError(t, err)
	info, err = stream.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 8, info.State.Msgs)

	var msgs []*nats.Msg
	for i := uint64(1); i <= 4; i++ {
		raw, err := stream.GetMsg(ctx, i)
		require.NoError(t, err)
		msgs = append(msgs, &nats.Msg{Subject: raw.Subject, Data: raw.Data, Header: raw.Header})
	}
	require.Equal(t, seq(1, 7), rowIDs(t, msgs))
	require.Equal(t, "true", msgs[3].Header.Get("Ferry-Last"))
}

// streamRows returns the row ids and Ferry-Round headers the stream holds,
// in order.
func streamRows(t *testing.T, stream jetstream.Stream) ([]int, []string) {
	t.Helper()
	ctx := context.Background()
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	var (
		msgs   []*nats.Msg
		rounds []string
	)
	for i := info.State.FirstSeq; i <= info.State.LastSeq && info.State.Msgs > 0; i++ {
		raw, err := stream.GetMsg(ctx, i)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // deleted
		}
		require.NoError(t, err)
		msgs = append(msgs, &nats.Msg{Subject: raw.Subject, Data: raw.Data, Header: raw.Header})
		rounds = append(rounds, raw.Header.Get(send.NATSHeaderRound))
	}
	return rowIDs(t, msgs), rounds
}

// TestNATSJetStreamResume: a retry long after the failed attempt (beyond
// the stream's duplicate window) resumes after the last message the stream
// stored, and repeats nothing; a redelivery (a new round) publishes every
// message again, under new ids, and its own retry resumes too.
func TestNATSJetStreamResume(t *testing.T) {
	nc := natsConn(t, 0)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	window := 100 * time.Millisecond
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FERRY_OUT", Subjects: []string{"ferry.out.acme.orders"}, Duplicates: window})
	require.NoError(t, err)
	job := testJob(memFile("a.jsonl", "jsonl", jsonl(1, 5, 20)), memFile("b.jsonl", "jsonl", jsonl(6, 2, 20)))
	s := send.NATS{Conn: nc, JS: js}
	spec := natsSpec("orders", func(n *ferryv1.NATSDestination) { n.RowsPerMessage = 2 })

	// An attempt that stopped after the second message (a.jsonl rows 3-4):
	// the stream holds what it stored.
	_, err = s.Send(ctx, "bus", spec, job)
	require.NoError(t, err)
	for seq := uint64(3); seq <= 4; seq++ {
		require.NoError(t, stream.DeleteMsg(ctx, seq))
	}
	ids, _ := streamRows(t, stream)
	require.Equal(t, seq(1, 4), ids)

	time.Sleep(4 * window)
	job.Attempt = 2
	_, err = s.Send(ctx, "bus", spec, job)
	require.NoError(t, err)
	ids, rounds := streamRows(t, stream)
	require.Equal(t, seq(1, 7), ids, "the retry resumed after row 4")
	require.Equal(t, []string{"1", "1", "1", "1"}, rounds)

	// Complete: a further retry publishes nothing.
	time.Sleep(4 * window)
	job.Attempt = 3
	_, err = s.Send(ctx, "bus", spec, job)
	require.NoError(t, err)
	ids, _ = streamRows(t, stream)
	require.Equal(t, seq(1, 7), ids)

	// A redelivery is a new round: everything again, within the window too.
	job.Round, job.Attempt = 2, 1
	_, err = s.Send(ctx, "bus", spec, job)
	require.NoError(t, err)
	ids, rounds = streamRows(t, stream)
	require.Equal(t, append(seq(1, 7), seq(1, 7)...), ids)
	require.Equal(t, []string{"1", "1", "1", "1", "2", "2", "2", "2"}, rounds)
	time.Sleep(4 * window)
	job.Attempt = 2
	_, err = s.Send(ctx, "bus", spec, job)
	require.NoError(t, err)
	ids, _ = streamRows(t, stream)
	require.Len(t, ids, 14, "the round's retry repeats nothing")

	// Another run's message on the subject since the failed attempt: the
	// retry cannot tell where that attempt stopped and sends everything
	// again; the stream's duplicate window (here the default two minutes)
	// drops what it holds.
	window2, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FERRY_OUT2", Subjects: []string{"ferry.out.acme.orders2"}})
	require.NoError(t, err)
	spec2 := natsSpec("orders2", func(n *ferryv1.NATSDestination) { n.RowsPerMessage = 2 })
	job.Round, job.Attempt = 1, 1
	_, err = s.Send(ctx, "bus", spec2, job)
	require.NoError(t, err)
	other := testJob(memFile("c.jsonl", "jsonl", jsonl(100, 1, 20)))
	other.Run = "0190c7a2-1111-7000-8000-00000000ffff"
	_, err = s.Send(ctx, "bus", spec2, other)
	require.NoError(t, err)
	job.Attempt = 2
	_, err = s.Send(ctx, "bus", spec2, job)
	require.NoError(t, err)
	ids, _ = streamRows(t, window2)
	require.Equal(t, append(seq(1, 7), 100), ids)
}

// TestNATSNoticeResume: a notice the stream holds is not published again.
func TestNATSNoticeResume(t *testing.T) {
	nc := natsConn(t, 0)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "FERRY_OUT", Subjects: []string{"ferry.out.>"}, Duplicates: 100 * time.Millisecond})
	require.NoError(t, err)
	job := testJob(memFile("a.csv", "csv", "id\n1\n"))
	spec := natsSpec("orders", func(n *ferryv1.NATSDestination) { n.Mode = ferryv1.NATSMode_NATS_MODE_NOTICE })
	s := send.NATS{Conn: nc, JS: js}
	_, err = s.Send(ctx, "bus", spec, job)
	require.NoError(t, err)
	time.Sleep(200 * time.Millisecond)
	_, err = s.Send(ctx, "bus", spec, job)
	require.NoError(t, err)
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs)
	job.Round = 2
	_, err = s.Send(ctx, "bus", spec, job)
	require.NoError(t, err)
	info, err = stream.Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 2, info.State.Msgs, "a redelivery notifies again")
}

func TestNATSJetStreamAcks(t *testing.T) {
	nc := natsConn(t, 0)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	// The stream refuses the messages: through JetStream that is an error,
	// where a core publish would be lost without a word.
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "TINY", Subjects: []string{"ferry.out.acme.tiny"}, MaxMsgSize: 64})
	require.NoError(t, err)
	job := testJob(memFile("a.jsonl", "jsonl", jsonl(1, 5, 100)))
	_, err = send.NATS{Conn: nc, JS: js}.Send(ctx, "bus", natsSpec("tiny", nil), job)
	requireClass(t, send.Permanent, err)
	require.ErrorContains(t, err, "max_msg_size")

	_, err = send.NATS{Conn: nc}.Send(ctx, "bus", natsSpec("tiny", nil), job)
	require.NoError(t, err)

	// Without a stream on the subject, JetStream is not used.
	_, err = send.NATS{Conn: nc, JS: js}.Send(ctx, "bus", natsSpec("nostream", nil), job)
	require.NoError(t, err)
}

func TestNATSNotice(t *testing.T) {
	nc := natsConn(t, 0)
	wait := collect(t, nc, "ferry.out.acme.ready")
	job := testJob(memFile("orders.csv", "csv", "id\n1\n"), memFile("orders.xlsx", "xlsx", "PK..."))
	spec := natsSpec("ready", func(n *ferryv1.NATSDestination) { n.Mode = ferryv1.NATSMode_NATS_MODE_NOTICE })
	locs, err := send.NATS{Conn: nc}.Send(context.Background(), "bus", spec, job)
	require.NoError(t, err)
	require.Equal(t, []string{"ferry.out.acme.ready"}, locs)
	msgs := wait(1)
	require.Equal(t, job.Run, msgs[0].Header.Get("Ferry-Run"))
	var n send.Notice
	require.NoError(t, json.Unmarshal(msgs[0].Data, &n))
	require.Equal(t, "ferry.export.ready", n.Type)
	require.Equal(t, "acme", n.Tenant)
	require.Equal(t, job.Run, n.Run)
	require.Len(t, n.Files, 2)
	require.Equal(t, "orders.xlsx", n.Files[1].Name)
	require.Equal(t, "https://files.example/orders.xlsx?ttl=168h0m0s", n.Files[1].URL)
}

func TestNATSBadSubject(t *testing.T) {
	nc := natsConn(t, 0)
	for _, s := range []string{"", "a..b", "a.*", "a.>", "a b"} {
		_, err := send.NATS{Conn: nc}.Send(context.Background(), "bus", natsSpec(s, nil), testJob())
		requireClass(t, send.Permanent, err)
	}
}
