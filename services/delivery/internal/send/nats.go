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
	"slices"
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
	NATSHeaderRound   = "Ferry-Round"
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
// When JS is set and a stream captures the subject, each message is
// published through JetStream and acknowledged before the next, which
// keeps the order and makes a lost message an error; and an attempt first
// reads the last message the stream holds on the subject: when it is one of
// this run and round, the attempt resumes after it (and publishes nothing
// when it was the last), so a retry repeats nothing however long after the
// failed attempt it comes. Every message also has a Nats-Msg-Id that is the
// same on every attempt of a round, so the stream's duplicate window drops
// a repeat the resumption cannot see (another run's message came between).
// A redelivery is a new round, with new message ids. Without a stream,
// messages are published on the connection, which is flushed at the end.
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
	p, err := s.publisher(ctx, subject, job)
	if err != nil {
		return nil, err
	}
	stored, err := p.lastStored(ctx, job)
	if err != nil {
		return nil, err
	}
	if n.GetMode() == ferryv1.NATSMode_NATS_MODE_NOTICE {
		if !stored.notice {
			err = s.sendNotice(ctx, p, job)
		}
	} else if !stored.last {
		rows := int(n.GetRowsPerMessage())
		if rows <= 0 {
			rows = defaultRowsPerMessage
		}
		err = s.sendRows(ctx, p, job, rows, stored)
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
	stream  string              // the stream capturing subject, with js
	subject string
	run     string // the run, and the round after the first: "<run>/r2"
	round   string
}

// publisher picks JetStream when a stream captures subject.
func (s NATS) publisher(ctx context.Context, subject string, job Job) (*publisher, error) {
	p := &publisher{nc: s.Conn, subject: subject, run: job.RoundKey(), round: strconv.Itoa(max(job.Round, 1))}
	if s.JS == nil {
		return p, nil
	}
	name, err := s.JS.StreamNameBySubject(ctx, subject)
	switch {
	case err == nil:
		p.js, p.stream = s.JS, name
	case errors.Is(err, jetstream.ErrStreamNotFound), errors.Is(err, jetstream.ErrJetStreamNotEnabled),
		errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
	default:
		return nil, Retry(fmt.Errorf("look up the stream of %s: %w", subject, err))
	}
	return p, nil
}

// stored is what the subject's stream holds of this run and round: nothing
// (the zero value), the notice, or the rows up to a message.
type stored struct {
	notice bool
	file   string // the file and seq of the last message stored
	seq    int
	last   bool // it was the run's last message: every row is there
}

// lastStored reads the last message the stream holds on the subject; only
// one of this run and round tells where the previous attempt stopped.
func (p *publisher) lastStored(ctx context.Context, job Job) (stored, error) {
	if p.js == nil {
		return stored{}, nil
	}
	st, err := p.js.Stream(ctx, p.stream)
	if err != nil {
		return stored{}, Retry(fmt.Errorf("look up stream %s: %w", p.stream, err))
	}
	m, err := st.GetLastMsgForSubject(ctx, p.subject)
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return stored{}, nil
	case err != nil:
		return stored{}, Retry(fmt.Errorf("read the last message on %s: %w", p.subject, err))
	}
	h := m.Header
	round := h.Get(NATSHeaderRound)
	if round == "" {
		round = "1"
	}
	if h.Get(NATSHeaderRun) != job.Run || round != p.round {
		return stored{}, nil
	}
	if h.Get(jetstream.MsgIDHeader) == p.msgID(p.run, "notice") {
		return stored{notice: true}, nil
	}
	seq, err := strconv.Atoi(h.Get(NATSHeaderSeq))
	if err != nil || h.Get(NATSHeaderFile) == "" && h.Get(NATSHeaderLast) != "true" {
		return stored{}, nil
	}
	return stored{file: h.Get(NATSHeaderFile), seq: seq, last: h.Get(NATSHeaderLast) == "true"}, nil
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
	m.Header.Set(NATSHeaderRound, p.round)
	m.Header.Set(NATSHeaderProfile, job.Profile)
	m.Header.Set("Content-Type", "application/json")
	m.Header.Set(jetstream.MsgIDHeader, p.msgID(p.run, "notice"))
	return p.publish(ctx, m)
}

// rowsMsg is a message of rows waiting to be published: it is held until
// the next one exists, to know whether it is the last.
type rowsMsg struct {
	file string
	seq  int
	data []byte
}

// sendRows publishes the rows of the job's files, after those of from (the
// messages a previous attempt of the round stored).
func (s NATS) sendRows(ctx context.Context, p *publisher, job Job, perMsg int, from stored) error {
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
	// Files before skipFile, and its messages up to from.seq, are stored.
	skipFile := slices.IndexFunc(job.Files, func(f File) bool { return from.file != "" && f.Name == from.file })
	file := 0
	queue := func(m *rowsMsg) error {
		if file < skipFile || file == skipFile && m.seq <= from.seq {
			return nil
		}
		if held != nil {
			if err := emit(held, false); err != nil {
				return err
			}
		}
		held = m
		return nil
	}
	for i, f := range job.Files {
		file = i
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
	msg.Header.Set(NATSHeaderRound, p.round)
	msg.Header.Set(NATSHeaderProfile, job.Profile)
	msg.Header.Set(NATSHeaderFile, m.file)
	msg.Header.Set(NATSHeaderSeq, seq)
	if last {
		msg.Header.Set(NATSHeaderLast, "true")
	}
	msg.Header.Set(jetstream.MsgIDHeader, p.msgID(p.run, m.file, seq))
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
