package delimited

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// splitInputs are files whose split-then-read result must match one reader
// over the whole file.
var splitInputs = []struct {
	name  string
	input string
	opts  Options
}{
	{name: "lf", input: "id,name\n1,Ann\n2,Bob\n3,Cy\n"},
	{name: "crlf", input: "id,name\r\n1,Ann\r\n2,Bob\r\n3,Cy\r\n"},
	{name: "cr only", input: "id,name\r1,Ann\r2,Bob\r3,Cy\r"},
	{name: "mixed line ends", input: "id,name\r\n1,Ann\n2,Bob\r3,Cy\r\n\r4,Di\n"},
	{name: "no final terminator", input: "id,name\n1,Ann\n2,Bob"},
	{name: "final cr", input: "id,name\n1,Ann\r"},
	{name: "blank lines", input: "id,name\n\n1,Ann\n\n\n2,Bob\n\n"},
	{name: "blank crlf lines", input: "id,name\r\n\r\n1,Ann\r\n\r\n\r\n"},
	{name: "quoted lf", input: "id,note\n1,\"line one\nline two\"\n2,\"a\n\nb\"\n3,x\n"},
	{name: "quoted crlf", input: "id,note\r\n1,\"line one\r\nline two\"\r\n2,\"\r\n\"\r\n3,x\r\n"},
	{name: "quoted cr", input: "id,note\r1,\"a\rb\"\r2,x\r"},
	{name: "doubled quotes", input: "id,note\n1,\"say \"\"hi\"\"\"\n2,\"\"\"\"\n3,\"\"\n4,\"a,\"\"b\n\"\"\"\n"},
	{name: "quoted field at end", input: "id,note\n1,\"x\ny\""},
	{name: "empty fields", input: "a,b,c\n,,\n\"\",,\"\"\n,\n"},
	{name: "unicode", input: "név,城市\nÉva,東京\nŁukasz,Kraków\n😀,\"多\n行\"\n"},
	{name: "bom and quoted header", input: "\xEF\xBB\xBF\"id\",\"last, first\",\"say \"\"x\"\"\"\n1,\"Doe, Jane\",x\n"},
	{name: "bom crlf", input: "\xEF\xBB\xBFid;name\r\n1;Ann\r\n", opts: Options{Delimiter: ';'}},
	{name: "single quote dialect", input: "'a;b';c\n'x\ny';'it''s'\n", opts: Options{Delimiter: ';', Quote: '\''}},
	{name: "tab delimited", input: "a\tb\n1\t\"2\t3\"\n"},
	{name: "malformed records", input: "a,b\n1,x\"y\"\n2,\"ab\"c\n3,ok\n4,\"open\n5,still open\n"},
	{name: "bare quote spans lines", input: "a,b\n1,x\"y\n2,z\"\n3,ok\n"},
	{name: "unclosed quote at end", input: "a,b\n1,ok\n2,\"open\n3,x\n"},
	{name: "header only", input: "a,b\n"},
	{name: "header only no terminator", input: "a,b"},
	{name: "blank header", input: "\n1,2\n"},
	{name: "malformed header", input: "a,\"b\"c\n1,2\n"},
	{name: "empty", input: ""},
	{name: "bom only", input: "\xEF\xBB\xBF"},
	{name: "oversized record", input: "a,b\n1,2\n3,4\n5,\"0123456789\n\"\n7,8\n", opts: Options{MaxRecordSize: 8}},
	{name: "oversized unclosed quote", input: "a,b\n1,2\n3,\"0123456789\n", opts: Options{MaxRecordSize: 8}},
	{name: "oversized header", input: "abcdefghijklmnop\n1\n", opts: Options{MaxRecordSize: 8}},
	{name: "record exactly at limit", input: "a,b\n1234,678\r\n1,2\r", opts: Options{MaxRecordSize: 8}},
}

func TestSplitThenReadMatchesWholeRead(t *testing.T) {
	sizes := []int{1, 2, 3, 4, 5, 7, 8, 11, 16, 32, 64, 100, 1000, 1 << 20}
	for _, tt := range splitInputs {
		for _, size := range sizes {
			opts := tt.opts
			opts.TargetChunkSize = size
			t.Run(tt.name, func(t *testing.T) {
				checkSplitRead(t, []byte(tt.input), opts)
			})
		}
	}
}

func TestSplitThenReadLargeFile(t *testing.T) {
	data := generate(400<<10, false)
	for _, size := range []int{1, 1000, 64 << 10, 100_000, 256 << 10, len(data) + 1} {
		got := checkSplitRead(t, data, Options{TargetChunkSize: size})
		require.Equal(t, []string{"id", "last_name", "first_name", "email", "birth_date", "grade", "note"}, got.Header)
	}
}

func TestSplitterChunks(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		target int
		want   []Chunk
	}{
		{
			name:   "closed at first boundary at or after target",
			input:  "h\n1\n22\n333\n\n4444",
			target: 4,
			want: []Chunk{
				{Seq: 1, FirstRow: 2, Rows: 2, Data: []byte("1\n22\n")},
				{Seq: 2, FirstRow: 4, Rows: 1, Data: []byte("333\n")},
				{Seq: 3, FirstRow: 5, Rows: 2, Data: []byte("\n4444")},
			},
		},
		{
			name:   "quoted newlines are one row",
			input:  "h\r\n\"a\r\nb\",\"c\nd\"\r\n\"\"\"\n\"\r\nx",
			target: 1,
			want: []Chunk{
				{Seq: 1, FirstRow: 2, Rows: 1, Data: []byte("\"a\r\nb\",\"c\nd\"\r\n")},
				{Seq: 2, FirstRow: 3, Rows: 1, Data: []byte("\"\"\"\n\"\r\n")},
				{Seq: 3, FirstRow: 4, Rows: 1, Data: []byte("x")},
			},
		},
		{
			name:   "one chunk",
			input:  "h\n1\n2\n",
			target: 100,
			want:   []Chunk{{Seq: 1, FirstRow: 2, Rows: 2, Data: []byte("1\n2\n")}},
		},
		{
			name:   "blank rows only",
			input:  "h\n\n\r\n\r",
			target: 100,
			want:   []Chunk{{Seq: 1, FirstRow: 2, Rows: 3, Data: []byte("\n\r\n\r")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitAll(t, strings.NewReader(tt.input), Options{TargetChunkSize: tt.target})
			require.Empty(t, got.HeaderErr)
			require.Equal(t, []string{"h"}, got.Header)
			require.Equal(t, tt.want, got.Chunks)
			require.Empty(t, got.Err)
		})
	}
}

func TestSplitterCRLFAcrossReads(t *testing.T) {
	r := &chunkReader{data: []byte("a\r\nb\r\nc\r\n"), sizes: []int{2, 3, 1, 2, 1}}
	got := splitAll(t, r, Options{TargetChunkSize: 1})
	require.Equal(t, []string{"a"}, got.Header)
	require.Equal(t, []Chunk{
		{Seq: 1, FirstRow: 2, Rows: 1, Data: []byte("b\r\n")},
		{Seq: 2, FirstRow: 3, Rows: 1, Data: []byte("c\r\n")},
	}, got.Chunks)
	require.Equal(t, int64(3), got.Rows)
}

func TestSplitterOneByteReader(t *testing.T) {
	data := generate(150<<10, false)
	for _, size := range []int{1, 4096, 64 << 10} {
		opts := Options{TargetChunkSize: size}
		want := splitAll(t, bytes.NewReader(data), opts)
		require.Greater(t, len(want.Chunks), 1)
		require.Equal(t, want, splitAll(t, iotest.OneByteReader(bytes.NewReader(data)), opts))
	}
}

func TestSplitterHeader(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		want    []string
		wantErr string
	}{
		{name: "plain", input: "id,name\n1,x\n", want: []string{"id", "name"}},
		{name: "bom removed", input: "\xEF\xBB\xBFid,name\r\n", want: []string{"id", "name"}},
		{name: "bom before quoted name", input: "\xEF\xBB\xBF\"id\",name", want: []string{"id", "name"}},
		{name: "bom only at the very start", input: "id,\xEF\xBB\xBFname\n", want: []string{"id", "\xEF\xBB\xBFname"}},
		{name: "quoted names", input: "\"last, first\",\"a \"\"b\"\"\",\"multi\nline\"\n", want: []string{"last, first", `a "b"`, "multi\nline"}},
		{name: "spaces kept", input: " id , name \n", want: []string{" id ", " name "}},
		{name: "empty", input: "", wantErr: "the file is empty"},
		{name: "bom only", input: "\xEF\xBB\xBF", wantErr: "the file is empty"},
		{name: "blank", input: "\r\nid\r\n", wantErr: "row 1: the header row is blank; it must hold the column names"},
		{name: "bare quote", input: "id,na\"me\n", wantErr: "row 1, column 2: bare quote in unquoted field"},
		{name: "after closing quote", input: "\"id\"x,name\n", wantErr: "row 1, column 1: unexpected character after closing quote"},
		{name: "not closed", input: "id,\"name\n1,2\n", wantErr: "row 1, column 2: quoted field not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSplitter(strings.NewReader(tt.input), Options{})
			got, err := s.Header()
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, int64(1), s.Rows())
		})
	}
}

func TestSplitterErrors(t *testing.T) {
	readErr := errors.New("connection reset")
	tests := []struct {
		name      string
		input     io.Reader
		opts      Options
		headerErr string
		chunks    int
		nextErr   string
		is        error
	}{
		{name: "empty file", input: strings.NewReader(""), headerErr: "the file is empty", is: io.EOF},
		{name: "header only", input: strings.NewReader("a,b\r\n"), is: io.EOF},
		{name: "header only without terminator", input: strings.NewReader("a,b"), is: io.EOF},
		{
			name:    "oversized record after whole records",
			input:   strings.NewReader("a,b\n1,2\n3,4\n5,\"123456789\"\n7,8\n"),
			opts:    Options{MaxRecordSize: 8, TargetChunkSize: 100},
			chunks:  1,
			nextErr: "row 4 is larger than the 8-byte record limit (is a quote not closed?)",
		},
		{
			name:    "oversized first data record",
			input:   strings.NewReader("a,b\n123456789\n"),
			opts:    Options{MaxRecordSize: 8},
			nextErr: "row 2 is larger than the 8-byte record limit (is a quote not closed?)",
		},
		{
			name:      "oversized header",
			input:     strings.NewReader("abcdefghi\n1\n"),
			opts:      Options{MaxRecordSize: 8},
			headerErr: "row 1 is larger than the 8-byte record limit (is a quote not closed?)",
			nextErr:   "row 1 is larger than the 8-byte record limit (is a quote not closed?)",
		},
		{
			name:    "read error",
			input:   &errReader{data: []byte("a,b\n1,2\n3,4"), err: readErr},
			nextErr: "read delimited data: connection reset",
			is:      readErr,
		},
		{
			name:      "read error in header",
			input:     &errReader{data: []byte("a,b"), err: readErr},
			headerErr: "read delimited data: connection reset",
			nextErr:   "read delimited data: connection reset",
			is:        readErr,
		},
		{
			name:    "no progress",
			input:   &errReader{data: []byte("a\n"), err: nil},
			nextErr: "read delimited data: multiple Read calls return no data or error",
			is:      io.ErrNoProgress,
		},
		{
			name:      "invalid options",
			input:     strings.NewReader("a\n"),
			opts:      Options{Delimiter: '"'},
			headerErr: `delimited options: delimiter and quote are both '"'`,
			nextErr:   `delimited options: delimiter and quote are both '"'`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSplitter(tt.input, tt.opts)
			_, err := s.Header()
			if tt.headerErr != "" {
				require.EqualError(t, err, tt.headerErr)
			} else {
				require.NoError(t, err)
			}
			for range tt.chunks {
				_, err := s.Next()
				require.NoError(t, err)
			}
			_, err = s.Next()
			if tt.nextErr != "" {
				require.EqualError(t, err, tt.nextErr)
			}
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			_, again := s.Next()
			require.Equal(t, err, again)
		})
	}
}

func TestSplitterOversizedRecordType(t *testing.T) {
	s := NewSplitter(strings.NewReader("h\n1\n22\n\"333333\n4"), Options{MaxRecordSize: 4, TargetChunkSize: 1})
	_, err := s.Header()
	require.NoError(t, err)
	for range 2 {
		_, err = s.Next()
		require.NoError(t, err)
	}
	_, err = s.Next()
	var tooLarge *RecordTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, RecordTooLargeError{Row: 4, Limit: 4}, *tooLarge)
	require.Equal(t, int64(3), s.Rows())
}

func TestSplitterCallOrder(t *testing.T) {
	s := NewSplitter(strings.NewReader("a\n1\n"), Options{})
	_, err := s.Next()
	require.EqualError(t, err, "delimited: Next called before Header")
	_, err = s.Header()
	require.NoError(t, err)
	_, err = s.Header()
	require.EqualError(t, err, "delimited: Header called twice")
}

func TestSplitterBoundedMemory(t *testing.T) {
	t.Run("large file", func(t *testing.T) {
		opts := Options{TargetChunkSize: 64 << 10}
		data := generate(8<<20, false)
		s := NewSplitter(bytes.NewReader(data), opts)
		_, err := s.Header()
		require.NoError(t, err)
		var total int
		for {
			c, err := s.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			total += len(c.Data)
			require.LessOrEqual(t, len(s.sc.buf), s.limit)
			require.LessOrEqual(t, len(s.sc.buf), 512<<10)
		}
		require.Greater(t, total, 8<<20-200)
	})
	t.Run("quote never closed", func(t *testing.T) {
		r := &endless{head: []byte("a,b\n1,2\n3,\""), fill: 'x'}
		s := NewSplitter(r, Options{})
		_, err := s.Header()
		require.NoError(t, err)
		c, err := s.Next()
		require.NoError(t, err)
		require.Equal(t, "1,2\n", string(c.Data))
		_, err = s.Next()
		require.EqualError(t, err, "row 3 is larger than the 1048576-byte record limit (is a quote not closed?)")
		require.LessOrEqual(t, r.n, DefaultMaxRecordSize+DefaultTargetChunkSize+2*readSize)
		require.LessOrEqual(t, len(s.sc.buf), s.limit)
	})
}
