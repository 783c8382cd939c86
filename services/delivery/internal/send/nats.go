package send

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/bus"
)

// Headers of a NATS delivery's messages, besides Nats-Msg-Id.
const (
	NATSHeaderRun     = "Ferry-Run"
	NATSHeaderProfile = "Ferry-Profile"
	NATSHeaderFile    = "Ferry-File"
	NATSHeaderSeq     = "Ferry-Seq"
	NATSHeaderLast    = "Ferry-Last"
)

// NATSSubjectPrefix starts the subject of every NATS destination; the
// tenant's name and the destination's subject follow.
const NATSSubjectPrefix = "ferry.out."

const (
	defaultRowsPerMessage = 1000
	natsFlushTimeout      = 30 * time.Second
)

// NATS publishes a run on Ferry's own NATS, on
// ferry.out.<tenant>.<subject>: the rows of its JSONL files, many to a
// message (mode ROWS), or one JSON Notice (mode NOTICE).
//
// Every message has a Nats-Msg-Id that is the same on every attempt, so a
// JetStream stream capturing the subject drops what a retry sends again,
// within its duplicate window. When JS is set and a stream captures the
// subject, each message is published through JetStream and acknowledged
// before the next, which keeps the order and makes a lost message an
// error; otherwise messages are published on the connection, which is
// flushed at the end.
type NATS struct {
	Conn *nats.Conn
	// JS may be nil: core publishing only.
	JS jetstream.JetStream
}

var _ Sender = NATS{}

var (
	natsSubjectRE = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	natsTokenRE   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// Send publishes job and returns the subject.
func (s NATS) Send(ctx context.Context, dest string, spec *ferryv1.DestinationSpec, job Job) ([]string, error) {
	n := spec.GetNats()
	switch {
	case n == nil:
		return nil, Fail(fmt.Errorf("destination %s is not a NATS destination", dest))
	case s.Conn == nil:
		return nil, Fail(errors.New("NATS destinations need a NATS connection"))
	case !natsSubjectRE.MatchString(n.GetSubject()):
		return nil, Fail(fmt.Errorf("nats destination %s: subject %q must be tokens of letters, digits, _ and - joined by dots", dest, n.GetSubject()))
	case !natsTokenRE.MatchString(job.TenantName):
		return nil, Fail(fmt.Errorf("nats destination %s: tenant name %q cannot be a subject token", dest, job.TenantName))
	}
	subject := NATSSubjectPrefix + job.TenantName + "." + n.GetSubject()
	p, err := s.publisher(ctx, subject)
	if err != nil {
		return nil, err
	}
	if n.GetMode() == ferryv1.NATSMode_NATS_MODE_NOTICE {
		err = s.sendNotice(ctx, p, job)
	} else {
		rows := int(n.GetRowsPerMessage())
		if rows <= 0 {
			rows = defaultRowsPerMessage
		}
		err = s.sendRows(ctx, p, job, rows)
	}
	if err != nil {
		return nil, err
	}
	if err := p.flush(ctx); err != nil {
		return nil, err
	}
	return []string{subject}, nil
}

// publisher publishes the messages of one attempt on one subject.
type publisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream // nil: core publishing
	subject string
}

// publisher picks JetStream when a stream captures subject.
func (s NATS) publisher(ctx context.Context, subject string) (*publisher, error) {
	p := &publisher{nc: s.Conn, subject: subject}
	if s.JS == nil {
		return p, nil
	}
	_, err := s.JS.StreamNameBySubject(ctx, subject)
	switch {
	case err == nil:
		p.js = s.JS
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
	default:
		return nil, Retry(fmt.Errorf("look up the stream of %s: %w", subject, err))
	}
	return p, nil
}

// msgID is a message's Nats-Msg-Id. The subject is part of it, so that two
// destinations whose subjects one stream captures do not drop each
// other's messages as duplicates.
func (p *publisher) msgID(parts ...string) string {
	id := p.subject
	for _, s := range parts {
		id += "/" + s
	}
	return id
}

func (p *publisher) publish(ctx context.Context, m *nats.Msg) error {
	m.Subject = p.subject
	// Subscribers can continue the export run's trace.
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	bus.InjectTrace(ctx, m.Header)
	if p.js != nil {
		if _, err := p.js.PublishMsg(ctx, m); err != nil {
			err = fmt.Errorf("publish to %s (message %s): %w", p.subject, m.Header.Get(jetstream.MsgIDHeader), err)
			var api *jetstream.APIError
			if errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum {
				return Fail(fmt.Errorf("%w; raise the stream's max_msg_size or lower rows_per_message", err))
			}
			return Retry(err)
		}
		return nil
	}
	if err := p.nc.PublishMsg(m); err != nil {
		if errors.Is(err, nats.ErrMaxPayload) {
			return Fail(fmt.Errorf("publish to %s (message %s): %w", p.subject, m.Header.Get(jetstream.MsgIDHeader), err))
		}
		return Retry(fmt.Errorf("publish to %s: %w", p.subject, err))
	}
	return nil
}

// flush waits until the server has what was published on the connection.
func (p *publisher) flush(ctx context.Context) error {
	if p.js != nil {
		return nil // every message was acknowledged
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, natsFlushTimeout)
		defer cancel()
	}
	if err := p.nc.FlushWithContext(ctx); err != nil {
		return Retry(fmt.Errorf("flush messages to %s: %w", p.subject, err))
	}
	return nil
}

func (s NATS) sendNotice(ctx context.Context, p *publisher, job Job) error {
	n, err := notice(ctx, job, DefaultLinkTTL)
	if err != nil {
		return err
	}
	body, err := json.Marshal(n)
	if err != nil {
		return Fail(fmt.Errorf("encode notice: %w", err))
	}
	m := &nats.Msg{Data: body, Header: nats.Header{}}
	m.Header.Set(NATSHeaderRun, job.Run)
	m.Header.Set(NATSHeaderProfile, job.Profile)
	m.Header.Set("Content-Type", "application/json")
	m.Header.Set(jetstream.MsgIDHeader, p.msgID(job.Run, "notice"))
	return p.publish(ctx, m)
}

// rowsMsg is a message of rows waiting to be published: it is held until
// the next one exists, to know whether it is the last.
type rowsMsg struct {
	file string
	seq  int
	data []byte
}

func (s NATS) sendRows(ctx context.Context, p *publisher, job Job, perMsg int) error {
	for _, f := range job.Files {
		if f.Format != "jsonl" {
			return Fail(fmt.Errorf("NATS rows mode needs a JSONL export: file %s is %q; export JSONL or use notice mode", f.Name, f.Format))
		}
	}
	maxPayload := int(p.nc.MaxPayload())
	var held *rowsMsg
	emit := func(m *rowsMsg, last bool) error {
		return p.publish(ctx, rowsMessage(job, p, m, last))
	}
	queue := func(m *rowsMsg) error {
		if held != nil {
			if err := emit(held, false); err != nil {
				return err
			}
		}
		held = m
		return nil
	}
	for _, f := range job.Files {
		// The largest header a message of this file can have.
		budget := maxPayload - headerSize(rowsMessage(job, p, &rowsMsg{file: f.Name, seq: 1 << 40}, true).Header)
		if budget <= 0 {
			return Fail(fmt.Errorf("the NATS server allows %d-byte messages, too few for the headers of file %s", maxPayload, f.Name))
		}
		if err := splitRows(ctx, f, perMsg, budget, queue); err != nil {
			return err
		}
	}
	if held == nil {
		// No rows at all: one empty message still says the run is complete.
		held = &rowsMsg{seq: 1}
		if len(job.Files) > 0 {
			held.file = job.Files[len(job.Files)-1].Name
		}
	}
	return emit(held, true)
}

func rowsMessage(job Job, p *publisher, m *rowsMsg, last bool) *nats.Msg {
	msg := &nats.Msg{Data: m.data, Header: nats.Header{}}
	seq := strconv.Itoa(m.seq)
	msg.Header.Set(NATSHeaderRun, job.Run)
	msg.Header.Set(NATSHeaderProfile, job.Profile)
	msg.Header.Set(NATSHeaderFile, m.file)
	msg.Header.Set(NATSHeaderSeq, seq)
	if last {
		msg.Header.Set(NATSHeaderLast, "true")
	}
	msg.Header.Set(jetstream.MsgIDHeader, p.msgID(job.Run, m.file, seq))
	return msg
}

// headerSize is the encoded size of h, as nats.go counts it against the
// server's max payload.
func headerSize(h nats.Header) int {
	n := len("NATS/1.0\r\n") + len("\r\n")
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// splitRows reads f's lines and hands them to queue in messages of up to
// perMsg lines and budget bytes, lines joined by "\n". Blank lines are
// skipped.
func splitRows(ctx context.Context, f File, perMsg, budget int, queue func(*rowsMsg) error) error {
	r, err := open(ctx, f)
	if err != nil {
		return err
	}
	defer r.Close()
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		buf   []byte
		rows  int
		seq   int
		lineN int
	)
	flush := func() error {
		if rows == 0 {
			return nil
		}
		seq++
		m := &rowsMsg{file: f.Name, seq: seq, data: buf}
		buf, rows = nil, 0
		return queue(m)
	}
	for {
		line, err := readLine(br, budget)
		if err != nil && !errors.Is(err, io.EOF) {
			if errors.Is(err, errLineTooLong) {
				return Fail(fmt.Errorf("row %d of file %s is longer than the %d bytes a NATS message can carry here; raise the server's max_payload or use notice mode", lineN+1, f.Name, budget))
			}
			return keep(fmt.Errorf("read file %s: %w", f.Name, err))
		}
		if len(line) > 0 || !errors.Is(err, io.EOF) {
			lineN++
		}
		if len(line) > 0 {
			if rows > 0 && (rows >= perMsg || len(buf)+1+len(line) > budget) {
				if ferr := flush(); ferr != nil {
					return ferr
				}
			}
			if rows > 0 {
				buf = append(buf, '\n')
			}
			buf = append(buf, line...)
			rows++
		}
		if errors.Is(err, io.EOF) {
			return flush()
		}
		if ctx.Err() != nil {
			return Retry(context.Cause(ctx))
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line without its "\n" (or "\r\n"); io.EOF comes with
// the last line when it has no "\n". A line longer than limit is
// errLineTooLong, found without reading all of it into memory.
func readLine(br *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > limit+2 { // room for "\r\n"
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > limit {
			return nil, errLineTooLong
		}
		return line, err
	}
}
