package delimited

import (
	"bytes"
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
	sc := newScanner(data, len(data), opts.withDefaults().Quote)
	var spans []span
	for pos := 0; pos < len(data); {
		term, _, _ := sc.scan(pos, false)
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
// errors, and chunk data that concatenates to the input minus its header.
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

	if len(data) == 0 {
		require.Equal(tb, split{HeaderErr: ErrEmptyFile.Error()}, got)
		return got
	}
	if spans[0].content-spans[0].start > o.MaxRecordSize {
		tooLarge := (&RecordTooLargeError{Row: 1, Limit: o.MaxRecordSize}).Error()
		require.Equal(tb, split{HeaderErr: tooLarge, Err: tooLarge}, got)
		return got
	}
	switch {
	case spans[0].content == 0:
		require.Equal(tb, (&RecordError{Row: 1, Reason: ReasonBlankHeader}).Error(), got.HeaderErr)
	case whole[0].Err != "":
		require.Equal(tb, whole[0].Err, got.HeaderErr)
	default:
		require.Empty(tb, got.HeaderErr)
		require.Equal(tb, whole[0].Fields, got.Header)
	}

	// Records from row 2 up to the first one over the size limit.
	last := len(spans)
	for i := 1; i < len(spans); i++ {
		if spans[i].content-spans[i].start > o.MaxRecordSize {
			last = i
			require.Equal(tb, (&RecordTooLargeError{Row: int64(i) + 1, Limit: o.MaxRecordSize}).Error(), got.Err)
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
	nextRow := int64(2)
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
	require.Equal(tb, string(data[spans[0].end:end]), string(joined))
	var want []record
	for _, r := range whole {
		if r.Row > 1 && r.Row <= int64(last) {
			want = append(want, r)
		}
	}
	require.Equal(tb, want, records)
	return got
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
