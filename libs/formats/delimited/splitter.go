package delimited

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// readSize is the most the Splitter asks of its reader at once.
const readSize = 64 << 10

// maxEmptyReads is how many reads returning no data and no error in a row
// the Splitter accepts before giving up with io.ErrNoProgress.
const maxEmptyReads = 100

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// Chunk is a run of whole records.
type Chunk struct {
	// Seq is the chunk's position in the file: 1, 2, 3, ...
	Seq int64
	// FirstRow is the row number of the first record in Data; the first data
	// record of a file whose header is row 1 is row 2.
	FirstRow int64
	// Rows is the number of records in Data, blank and comment ones included.
	Rows int64
	// Data holds the records' raw bytes, including their line terminators,
	// unmodified.
	Data []byte
}

// Splitter cuts a CSV stream into chunks at record boundaries. It reads with
// bounded memory, about TargetChunkSize + MaxRecordSize + 128 KiB, whatever
// the size of the file. It finds boundaries by quote parity and does not
// validate fields; the Reader does that.
type Splitter struct {
	r      io.Reader
	target int
	max    int
	limit  int // largest buffer the splitter may need
	sc     scanner
	o      Options // with defaults
	opts   Options // as given, for the Readers of the header

	pos        int        // where scanning resumes
	state      quoteState // scanner state at pos
	recStart   int        // start of the record being scanned
	term       int        // end of the last scanned record's content
	chunkStart int        // start of the chunk being built
	chunkFirst int64
	rows       int64
	seq        int64
	eof        bool
	header     bool
	isHeader   bool  // the record being scanned would be the header
	err        error // returned by every later call
}

// NewSplitter returns a Splitter that reads r. Invalid options are reported
// by the first call to Header.
func NewSplitter(r io.Reader, opts Options) *Splitter {
	o := opts.withDefaults()
	s := &Splitter{r: r, opts: opts, o: o, err: opts.Validate()}
	s.target, s.max = o.TargetChunkSize, o.MaxRecordSize
	// The unfinished part of a chunk is below target and the record being
	// scanned at most max+1 bytes before it is rejected, so this much always
	// leaves room for a read.
	s.limit = s.target + s.max + 2*readSize
	s.sc = newScanner(nil, 0, o)
	return s
}

// Header reads up to the header and returns its fields, parsed (quotes
// removed). It must be called once, before Next.
//
// A UTF-8 BOM at the very start of the stream is removed and never appears in
// the first name; rows are counted from the first byte after it. The records
// before Options.HeaderRow are skipped, then any comment records; the next
// record is the header. The first chunk starts after it.
//
// With Options.NoHeader, blank and comment records are skipped too, and
// Header returns the names "1", "2", … "N", N being the field count of the
// first data record; that record is not consumed: it starts the first chunk.
//
// An empty stream returns ErrEmptyFile, and so does, with NoHeader, a stream
// without a data record. A stream that ends before the header, a blank or
// malformed header, or one with a field over MaxFieldSize, returns a
// *RecordError; a header with more than MaxColumns fields returns a
// *LimitError; Next may still be called after these errors. A record over
// MaxRecordSize or a read error stops the Splitter.
func (s *Splitter) Header() ([]string, error) {
	if s.header {
		return nil, errors.New("delimited: Header called twice")
	}
	s.header = true
	if s.err != nil {
		return nil, s.err
	}
	for s.sc.end < len(utf8BOM) && bytes.HasPrefix(utf8BOM, s.sc.buf[:s.sc.end]) && !s.eof {
		if err := s.fill(); err != nil {
			s.err = err
			return nil, err
		}
	}
	if bytes.HasPrefix(s.sc.buf[:s.sc.end], utf8BOM) {
		s.pos, s.recStart, s.chunkStart = len(utf8BOM), len(utf8BOM), len(utf8BOM)
	}
	for {
		row := s.rows + 1
		s.isHeader = !s.o.NoHeader && row >= int64(s.o.HeaderRow)
		ok, err := s.scanWhole()
		s.isHeader = false
		if err != nil {
			s.err = err
			return nil, err
		}
		if !ok {
			switch {
			case s.rows == 0 || s.o.NoHeader:
				return nil, ErrEmptyFile
			default:
				return nil, &RecordError{Row: max(row, int64(s.o.HeaderRow)), Reason: ReasonNoHeaderRow}
			}
		}
		start, term := s.recStart, s.term
		s.rows = row
		s.recStart, s.chunkStart, s.chunkFirst = s.pos, s.pos, row+1
		isComment := term > start && s.sc.start(start) == inComment
		if row < int64(s.o.HeaderRow) || isComment || (s.o.NoHeader && term == start) {
			continue
		}
		if term == start {
			return nil, &RecordError{Row: row, Reason: ReasonBlankHeader}
		}
		_, fields, err := NewReader(s.sc.buf[start:s.pos], row, s.opts).Next()
		if s.o.NoHeader {
			// The record is data: it starts the first chunk.
			s.chunkStart, s.chunkFirst = start, row
			if err != nil {
				return nil, err
			}
			names := make([]string, len(fields))
			for i := range names {
				names[i] = strconv.Itoa(i + 1)
			}
			return names, nil
		}
		var limit *LimitError
		if errors.As(err, &limit) && limit.What == LimitColumns {
			h := *limit
			h.Header = true
			return nil, &h
		}
		return fields, err
	}
}

// Next returns the next chunk, or io.EOF after the last one. The chunk's Data
// is owned by the caller. When a record is larger than MaxRecordSize, Next
// first returns the whole records before it, then a *RecordTooLargeError, or
// a *LimitError for LimitColumns when the part of the record within the
// limit already holds more than MaxColumns fields.
func (s *Splitter) Next() (Chunk, error) {
	if s.err != nil {
		return Chunk{}, s.err
	}
	if !s.header {
		return Chunk{}, errors.New("delimited: Next called before Header")
	}
	if s.recStart-s.chunkStart >= s.target {
		// The first data record that Header read without a header fills a
		// chunk by itself.
		return s.emit(s.recStart), nil
	}
	for {
		done, err := s.scanRecord()
		if err != nil {
			s.err = err
			if s.recStart > s.chunkStart {
				return s.emit(s.recStart), nil
			}
			return Chunk{}, err
		}
		if done {
			s.rows++
			s.recStart = s.pos
			if s.pos-s.chunkStart >= s.target {
				return s.emit(s.pos), nil
			}
			continue
		}
		if s.eof {
			if s.recStart < s.sc.end { // the last record has no terminator
				s.rows++
				s.recStart, s.pos = s.sc.end, s.sc.end
			}
			if s.chunkStart < s.sc.end {
				return s.emit(s.sc.end), nil
			}
			s.err = io.EOF
			return Chunk{}, io.EOF
		}
		if err := s.fill(); err != nil {
			s.err = err
			return Chunk{}, err
		}
	}
}

// Rows returns the number of records read so far, the header and the
// skipped records included. After Next returns a chunk, it is the chunk's
// last row number.
func (s *Splitter) Rows() int64 { return s.rows }

// scanWhole scans the record that starts at recStart to its end, reading as
// needed, for Header. It reports false when the stream ends first.
func (s *Splitter) scanWhole() (bool, error) {
	for {
		done, err := s.scanRecord()
		if err != nil || done {
			return done, err
		}
		if s.eof {
			if s.recStart == s.sc.end {
				return false, nil
			}
			s.pos = s.sc.end // the last record has no terminator
			return true, nil
		}
		if err := s.fill(); err != nil {
			return false, err
		}
	}
}

// scanRecord scans the record that starts at recStart. It reports true when
// the record and its terminator are complete, pos then being the start of
// the next record and term the end of its content, and false when it needs
// more data.
func (s *Splitter) scanRecord() (bool, error) {
	if s.pos == s.recStart && s.sc.comment != 0 {
		if s.pos == s.sc.end {
			return false, nil
		}
		s.state = s.sc.start(s.pos)
	}
	term, st, _ := s.sc.scan(s.pos, s.state)
	s.state = st
	if term-s.recStart > s.max {
		return false, s.tooLarge()
	}
	s.term = term
	if term == s.sc.end {
		s.pos = term
		return false, nil
	}
	switch {
	case s.sc.buf[term] == '\n':
		s.pos = term + 1
	case term+1 < s.sc.end:
		s.pos = term + 1
		if s.sc.buf[term+1] == '\n' {
			s.pos++
		}
	case s.eof:
		s.pos = term + 1
	default:
		// A CR ends the buffer: wait for the next byte, which may be the LF
		// of a CRLF.
		s.pos = term
		return false, nil
	}
	return true, nil
}

// tooLarge returns the error for the record at recStart, which is larger
// than max. It looks at the first max+1 bytes only, so that the error does
// not depend on how much the reads buffered: when they end outside quotes
// and already hold more fields than MaxColumns allows, the columns are
// named rather than the size.
func (s *Splitter) tooLarge() error {
	row := s.rows + 1
	n, quoted := countFields(s.sc.buf[s.recStart:s.recStart+s.max+1], s.o)
	if !quoted && n > s.o.MaxColumns {
		return &LimitError{What: LimitColumns, Row: row, Limit: s.o.MaxColumns, Header: s.isHeader}
	}
	return &RecordTooLargeError{Row: row, Limit: s.max}
}

// countFields returns the number of fields in the start of a record, and
// whether it ends inside quotes. A comment counts as one field. With a
// trailing delimiter, a last field that may be the dropped one is not
// counted.
func countFields(p []byte, o Options) (n int, quoted bool) {
	if o.Comment != 0 && p[0] == o.Comment {
		return 1, false
	}
	st, esc := outside, o.escapeByte()
	n = 1
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case st == escaped:
			st = inQuote
		case c == o.Quote && st == outside:
			st = inQuote
		case c == o.Quote:
			st = outside
		case esc != 0 && st == inQuote && c == esc:
			st = escaped
		case st == outside && c == o.Delimiter:
			n++
		}
	}
	if o.TrailingDelimiter && p[len(p)-1] == o.Delimiter && st == outside {
		n--
	}
	return n, st != outside
}

func (s *Splitter) emit(end int) Chunk {
	s.seq++
	c := Chunk{
		Seq:      s.seq,
		FirstRow: s.chunkFirst,
		Rows:     s.rows - s.chunkFirst + 1,
		Data:     bytes.Clone(s.sc.buf[s.chunkStart:end]),
	}
	s.chunkStart = end
	s.chunkFirst = s.rows + 1
	return c
}

// fill reads more data after the buffered bytes, first making room by
// dropping the bytes of chunks already returned and growing the buffer up to
// its limit.
func (s *Splitter) fill() error {
	if len(s.sc.buf)-s.sc.end < readSize {
		s.makeRoom()
	}
	for range maxEmptyReads {
		n, err := s.r.Read(s.sc.buf[s.sc.end:min(len(s.sc.buf), s.sc.end+readSize)])
		if n > 0 {
			s.sc.grow(s.sc.end + n)
		}
		if err == io.EOF {
			s.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("read delimited data: %w", err)
		}
		if n > 0 {
			return nil
		}
	}
	return fmt.Errorf("read delimited data: %w", io.ErrNoProgress)
}

func (s *Splitter) makeRoom() {
	live := s.sc.end - s.chunkStart
	buf := s.sc.buf
	if len(buf)-live < readSize && len(buf) < s.limit {
		size := min(max(2*len(buf), live+readSize, min(s.target+2*readSize, 4<<20)), s.limit)
		buf = make([]byte, size)
	}
	if s.chunkStart == 0 && len(buf) == len(s.sc.buf) {
		return
	}
	copy(buf, s.sc.buf[s.chunkStart:s.sc.end])
	off := s.chunkStart
	s.pos -= off
	s.recStart -= off
	s.chunkStart = 0
	s.sc.shift(buf, off)
}
