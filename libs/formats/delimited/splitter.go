package delimited

import (
	"bytes"
	"errors"
	"fmt"
	"io"
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
	// record of a file with a header is row 2.
	FirstRow int64
	// Rows is the number of records in Data, blank ones included.
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

	pos        int  // where scanning resumes
	inQuote    bool // quote parity at pos
	recStart   int  // start of the record being scanned
	chunkStart int  // start of the chunk being built
	chunkFirst int64
	rows       int64
	seq        int64
	eof        bool
	header     bool
	opts       Options
	err        error // returned by every later call
}

// NewSplitter returns a Splitter that reads r. Invalid options are reported
// by the first call to Header.
func NewSplitter(r io.Reader, opts Options) *Splitter {
	s := &Splitter{r: r, opts: opts, err: opts.Validate()}
	o := opts.withDefaults()
	s.target, s.max = o.TargetChunkSize, o.MaxRecordSize
	// The unfinished part of a chunk is below target and the record being
	// scanned at most max+1 bytes before it is rejected, so this much always
	// leaves room for a read.
	s.limit = s.target + s.max + 2*readSize
	s.sc = newScanner(nil, 0, o.Quote)
	return s
}

// Header reads the first record and returns its fields, parsed (quotes
// removed). A UTF-8 BOM at the very start of the stream is removed and never
// appears in the first name. It must be called once, before Next. An empty
// stream returns ErrEmptyFile; a blank or malformed first record returns a
// *RecordError for row 1, and Next may still be called.
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
		done, err := s.scanRecord()
		if err != nil {
			s.err = err
			return nil, err
		}
		if done {
			break
		}
		if s.eof {
			if s.recStart == s.sc.end {
				return nil, ErrEmptyFile
			}
			s.pos = s.sc.end
			break
		}
		if err := s.fill(); err != nil {
			s.err = err
			return nil, err
		}
	}
	raw := s.sc.buf[s.recStart:s.pos]
	s.rows = 1
	s.recStart, s.chunkStart, s.chunkFirst = s.pos, s.pos, 2
	_, fields, err := NewReader(raw, 1, s.opts).Next()
	if err == io.EOF {
		return nil, &RecordError{Row: 1, Reason: ReasonBlankHeader}
	}
	return fields, err
}

// Next returns the next chunk, or io.EOF after the last one. The chunk's Data
// is owned by the caller. When a record is larger than MaxRecordSize, Next
// first returns the whole records before it, then a *RecordTooLargeError.
func (s *Splitter) Next() (Chunk, error) {
	if s.err != nil {
		return Chunk{}, s.err
	}
	if !s.header {
		return Chunk{}, errors.New("delimited: Next called before Header")
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

// Rows returns the number of records read so far, header included. After
// Next returns a chunk, it is the chunk's last row number.
func (s *Splitter) Rows() int64 { return s.rows }

// scanRecord scans the record that starts at recStart. It reports true when
// the record and its terminator are complete, pos then being the start of
// the next record, and false when it needs more data.
func (s *Splitter) scanRecord() (bool, error) {
	term, inQuote, _ := s.sc.scan(s.pos, s.inQuote)
	s.inQuote = inQuote
	if term-s.recStart > s.max {
		return false, &RecordTooLargeError{Row: s.rows + 1, Limit: s.max}
	}
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
