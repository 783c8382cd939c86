package delimited

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// record is one result of Reader.Next, for comparisons.
type record struct {
	Row    int64
	Fields []string
	Err    string
}

// readAll reads every record of data, also returning the row number after the
// last record, blank ones included.
func readAll(tb testing.TB, data []byte, firstRow int64, opts Options) ([]record, int64) {
	tb.Helper()
	r := NewReader(data, firstRow, opts)
	var out []record
	for {
		row, fields, err := r.Next()
		if err == io.EOF {
			return out, r.row
		}
		if err != nil {
			var re *RecordError
			require.ErrorAs(tb, err, &re)
			require.Equal(tb, row, re.Row)
			require.Nil(tb, fields)
			out = append(out, record{Row: row, Err: err.Error()})
			continue
		}
		out = append(out, record{Row: row, Fields: fields})
	}
}

// split is everything a Splitter returned for one stream.
type split struct {
	Header    []string
	HeaderErr string
	Chunks    []Chunk
	Err       string // the error that ended Next, if not io.EOF
	Rows      int64
}

func splitAll(tb testing.TB, r io.Reader, opts Options) split {
	tb.Helper()
	s := NewSplitter(r, opts)
	var out split
	h, err := s.Header()
	if err != nil {
		out.HeaderErr = err.Error()
	}
	out.Header = h
	for {
		c, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			out.Err = err.Error()
			_, again := s.Next()
			require.Equal(tb, err, again, "errors are sticky")
			break
		}
		out.Chunks = append(out.Chunks, c)
		require.Equal(tb, c.FirstRow+c.Rows-1, s.Rows())
	}
	out.Rows = s.Rows()
	return out
}

// span is where one record lies in the data: its content is
// data[start:content] and its terminator data[content:end].
type span struct{ start, content, end int }

func recordSpans(data []byte, opts Options) []span {
	sc := newScanner(data, len(data), opts.withDefaults())
	var spans []span
	for pos := 0; pos < len(data); {
		term, _, _ := sc.scan(pos, sc.start(pos))
		end := term
		if term < len(data) {
			end++
			if data[term] == '\r' && end < len(data) && data[end] == '\n' {
				end++
			}
		}
		spans = append(spans, span{pos, term, end})
		pos = end
	}
	return spans
}

// chunkReader returns the data in pieces of varying sizes, to move the read
// boundaries around.
type chunkReader struct {
	data  []byte
	sizes []int
	i     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(r.data), r.sizes[r.i%len(r.sizes)])
	r.i++
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// checkSplitRead splits input with opts and checks the chunks against a
// single Reader over the whole input: same records, same row numbers, same
// errors, and chunk data that concatenates to the input minus what comes
// before the first data record (the header, the records before HeaderRow,
// comments before the header, and without a header the blank records before
// the first data record). What the Splitter must return is worked out here
// from the record spans and the reference reading, not from the Splitter.
func checkSplitRead(tb testing.TB, input []byte, opts Options) split {
	tb.Helper()
	o := opts.withDefaults()
	got := splitAll(tb, bytes.NewReader(input), opts)
	for name, r := range map[string]io.Reader{
		"one byte": iotest.OneByteReader(bytes.NewReader(input)),
		"half":     iotest.HalfReader(bytes.NewReader(input)),
		"jitter":   &chunkReader{data: input, sizes: []int{3, 1, 64<<10 - 1, 2, 700, 1}},
	} {
		require.Equal(tb, got, splitAll(tb, r, opts), "%s reader", name)
	}

	data := bytes.TrimPrefix(input, utf8BOM)
	spans := recordSpans(data, opts)
	whole, next := readAll(tb, data, 1, opts)
	checkReference(tb, data, opts)
	require.Equal(tb, int64(len(spans))+1, next)

	content := func(i int) []byte { return data[spans[i].start:spans[i].content] }
	oversized := func(i int) bool { return spans[i].content-spans[i].start > o.MaxRecordSize }
	blank := func(i int) bool { return spans[i].content == spans[i].start }
	comment := func(i int) bool { return !blank(i) && o.Comment != 0 && data[spans[i].start] == o.Comment }

	// The header, or the first data record without one, is span h.
	h := 0
	for ; h < len(spans); h++ {
		row := int64(h) + 1
		if oversized(h) {
			isHeader := !o.NoHeader && row >= int64(o.HeaderRow) && !comment(h)
			e := wantTooLarge(data[spans[h].start:], o, row, isHeader)
			require.Equal(tb, split{HeaderErr: e, Err: e, Rows: int64(h)}, got)
			return got
		}
		if row >= int64(o.HeaderRow) && !comment(h) && (!o.NoHeader || !blank(h)) {
			break
		}
	}
	if h == len(spans) {
		want := split{HeaderErr: ErrEmptyFile.Error(), Rows: int64(len(spans))}
		if len(spans) > 0 && !o.NoHeader {
			want.HeaderErr = (&RecordError{Row: max(int64(len(spans))+1, int64(o.HeaderRow)), Reason: ReasonNoHeaderRow}).Error()
		}
		require.Equal(tb, want, got)
		return got
	}
	hRow := int64(h) + 1
	fields, recErr := referenceRecord(hRow, content(h), o)
	first, firstRow := spans[h].end, hRow+1 // where the first chunk starts
	switch {
	case o.NoHeader:
		first, firstRow = spans[h].start, hRow
		if recErr != nil {
			require.Equal(tb, recErr.Error(), got.HeaderErr)
			break
		}
		require.Empty(tb, got.HeaderErr)
		require.Len(tb, got.Header, len(fields))
		for i, name := range got.Header {
			require.Equal(tb, fmt.Sprint(i+1), name)
		}
	case blank(h):
		require.Equal(tb, (&RecordError{Row: hRow, Reason: ReasonBlankHeader}).Error(), got.HeaderErr)
	case recErr != nil:
		var limit *LimitError
		if errors.As(recErr, &limit) && limit.What == LimitColumns {
			header := *limit
			header.Header = true
			require.Equal(tb, header.Error(), got.HeaderErr)
			break
		}
		require.Equal(tb, recErr.Error(), got.HeaderErr)
	default:
		require.Empty(tb, got.HeaderErr)
		require.Equal(tb, fields, got.Header)
	}
	if got.HeaderErr == "" {
		require.NotNil(tb, got.Header)
	} else {
		require.Nil(tb, got.Header)
	}

	// Records from the first chunk's up to the first one over the size limit.
	last := len(spans)
	for i := h + 1; i < len(spans); i++ {
		if oversized(i) {
			last = i
			require.Equal(tb, wantTooLarge(data[spans[i].start:], o, int64(i)+1, false), got.Err)
			break
		}
	}
	if last == len(spans) {
		require.Empty(tb, got.Err)
	}
	require.Equal(tb, int64(last), got.Rows)
	end := len(data)
	if last < len(spans) {
		end = spans[last].start
	}
	var joined []byte
	var records []record
	nextRow := firstRow
	for i, c := range got.Chunks {
		require.Equal(tb, int64(i)+1, c.Seq)
		require.Equal(tb, nextRow, c.FirstRow)
		require.Positive(tb, c.Rows)
		require.NotEmpty(tb, c.Data)
		inChunk := recordSpans(c.Data, opts)
		require.Len(tb, inChunk, int(c.Rows))
		if i < len(got.Chunks)-1 {
			require.GreaterOrEqual(tb, len(c.Data), o.TargetChunkSize, "chunk %d closed early", c.Seq)
		}
		require.Less(tb, inChunk[len(inChunk)-1].start, o.TargetChunkSize, "chunk %d closed late", c.Seq)
		recs, next := readAll(tb, c.Data, c.FirstRow, opts)
		require.Equal(tb, c.FirstRow+c.Rows, next)
		records = append(records, recs...)
		joined = append(joined, c.Data...)
		nextRow += c.Rows
	}
	require.Equal(tb, string(data[min(first, end):end]), string(joined))
	var want []record
	for _, r := range whole {
		if r.Row >= firstRow && r.Row <= int64(last) {
			want = append(want, r)
		}
	}
	require.Equal(tb, want, records)
	return got
}

// wantTooLarge is the Splitter's error for a record, starting rec, that is
// larger than o.MaxRecordSize: a columns LimitError if its first
// MaxRecordSize+1 bytes end outside quotes and surely hold more than
// MaxColumns fields, else a RecordTooLargeError.
func wantTooLarge(rec []byte, o Options, row int64, header bool) string {
	p := rec[:o.MaxRecordSize+1]
	if o.Comment == 0 || p[0] != o.Comment {
		inQuote, n := false, 1
		for i := 0; i < len(p); i++ {
			switch c := p[i]; {
			case inQuote && o.Escape == EscapeBackslash && c == '\\':
				i++
			case c == o.Quote:
				inQuote = !inQuote
			case !inQuote && c == o.Delimiter:
				n++
			}
		}
		if o.TrailingDelimiter && !inQuote && p[len(p)-1] == o.Delimiter {
			n--
		}
		if !inQuote && n > o.MaxColumns {
			return (&LimitError{What: LimitColumns, Row: row, Limit: o.MaxColumns, Header: header}).Error()
		}
	}
	return (&RecordTooLargeError{Row: row, Limit: o.MaxRecordSize}).Error()
}

// generate returns about size bytes of CSV in the shape of a student export:
// a header, CRLF line ends, and now and then quoted fields with delimiters,
// doubled quotes and line breaks. With plain, no field is quoted.
func generate(size int, plain bool) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"Smith", "Müller", "O'Brien", "Nguyễn", "García", "Kowalski", "李"}
	notes := []string{`"Smith, John"`, `"said ""hi"""`, "\"two\r\nlines\"", "\"line\none\"", `""`}
	var b bytes.Buffer
	b.WriteString("\xEF\xBB\xBFid,last_name,first_name,email,birth_date,grade,note\r\n")
	for i := 0; b.Len() < size; i++ {
		name := names[rng.IntN(len(names))]
		note := "ok"
		if !plain && rng.IntN(8) == 0 {
			note = notes[rng.IntN(len(notes))]
		}
		fmt.Fprintf(&b, "%07d,%s,Student %d,s%d@school.example,20%02d-%02d-%02d,%03d,%s\r\n",
			i, name, i, i, rng.IntN(20), 1+rng.IntN(12), 1+rng.IntN(28), rng.IntN(13), note)
	}
	return b.Bytes()
}

// errReader returns its data, then err.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

// cycle returns head, then unit over and over for ever, counting the bytes
// it returned.
type cycle struct {
	head []byte
	unit []byte
	off  int // position in unit
	n    int
}

func (r *cycle) Read(p []byte) (int, error) {
	n := copy(p, r.head)
	r.head = r.head[n:]
	for ; n < len(p); n++ {
		p[n] = r.unit[r.off]
		r.off = (r.off + 1) % len(r.unit)
	}
	r.n += n
	return n, nil
}

// counter counts the bytes read through it.
type counter struct {
	r io.Reader
	n int
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// endless returns head, then fill for ever, counting the bytes it returned.
type endless struct {
	head []byte
	fill byte
	n    int
}

func (r *endless) Read(p []byte) (int, error) {
	n := copy(p, r.head)
	r.head = r.head[n:]
	for i := n; i < len(p); i++ {
		p[i] = r.fill
	}
	r.n += len(p)
	return len(p), nil
}
