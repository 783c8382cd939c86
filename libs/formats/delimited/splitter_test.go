package delimited

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strconv"
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

	// Backslash escapes.
	{name: "backslash escapes", input: "id,note\n1,\"say \\\"hi\\\"\"\n2,\"back\\\\slash\"\n3,\"c:\\\\\"\n4,\"\\n\\N\",\\N\n", opts: Options{Escape: EscapeBackslash}},
	{name: "backslash escaped quote spans lines", input: "h,x\r\n\"a\\\"\r\nb\",c\r\n\"\\\"\"\"\n\"x\\\\\",\"\\\r\"\n", opts: Options{Escape: EscapeBackslash}},
	{name: "backslash at the end", input: "h\n1\n\"abc\\", opts: Options{Escape: EscapeBackslash}},
	{name: "backslash outside quotes is literal", input: "h,i\nC:\\temp,x\\\\y\n\\,\\\n", opts: Options{Escape: EscapeBackslash}},
	{name: "doubled quote with backslash escapes", input: "h\n\"a\"\"b\"\n\"\"\n", opts: Options{Escape: EscapeBackslash}},
	{name: "backslash with single quotes", input: "a;b\n'it\\'s';'x\\\\'\n'\\\n';\"\n", opts: Options{Delimiter: ';', Quote: '\'', Escape: EscapeBackslash}},
	{name: "backslash malformed records", input: "a,b\n1,x\"y\\\"z\n2,\"ab\\\"c\n3,\"ok\"\n", opts: Options{Escape: EscapeBackslash}},

	// Comments.
	{name: "comments", input: "# exported 2024-01-01\n# by \"someone\nid,name\n1,Ann\n# a \"quote\n2,Bob\n#\n\n3,Cy\n", opts: Options{Comment: '#'}},
	{name: "comments with crlf and cr", input: "#a\r\n#b\rh\r\n1\r\n#c\r\n#d\r", opts: Options{Comment: '#'}},
	{name: "comment character inside a record is data", input: "h,i\n\"#x\",1\n1,#y\n #z,2\n", opts: Options{Comment: '#'}},
	{name: "only comments", input: "#a\n#b\n", opts: Options{Comment: '#'}},
	{name: "comment without terminator", input: "h\n1\n#c", opts: Options{Comment: '#'}},
	{name: "comment and backslash", input: "#\\\"\nh\n\"\\\"#\"\n#\"\\\n1\n", opts: Options{Comment: '#', Escape: EscapeBackslash}},

	// Trailing delimiter.
	{name: "trailing delimiter", input: "id,name,\n1,Ann,\n2,,\n3,\"x\",\n4,\"\"\n5,Bob\n,\n\"a,\",\n", opts: Options{TrailingDelimiter: true}},
	{name: "trailing tab", input: "a\tb\t\r\n1\t2\t\r\n\t\r\n", opts: Options{Delimiter: '\t', TrailingDelimiter: true}},

	// Header row.
	{name: "header after a preamble", input: "Statement;;\r\nAccount: 123;;\r\n\r\nid;amount\r\n1;2,50\r\n2;-1,00\r\n", opts: Options{Delimiter: ';', HeaderRow: 4}},
	{name: "header row past the end", input: "a\nb\n", opts: Options{HeaderRow: 5}},
	{name: "header row past a bom only", input: "\xEF\xBB\xBF", opts: Options{HeaderRow: 2}},
	{name: "quoted preamble record", input: "\"title\nline 2\"\nid,x\n1,2\n", opts: Options{HeaderRow: 2}},
	{name: "blank header row", input: "title\n\nid\n1\n", opts: Options{HeaderRow: 2}},
	{name: "header row then comments", input: "junk\n#c\n#d\nid\n#e\n1\n", opts: Options{HeaderRow: 2, Comment: '#'}},
	{name: "malformed preamble", input: "a\"b\nc\"\nid\n1\n", opts: Options{HeaderRow: 2}},

	// No header.
	{name: "no header", input: "1,2,3\n4,5,6\n", opts: Options{NoHeader: true}},
	{name: "no header after blanks and comments", input: "\n#c\n\r\n1,2\n\n3,4\n", opts: Options{NoHeader: true, Comment: '#'}},
	{name: "no header after a preamble", input: "title\n\n1,2\n3,4\n", opts: Options{NoHeader: true, HeaderRow: 2}},
	{name: "no header malformed first record", input: "1,\"a\"b\n2,c\n", opts: Options{NoHeader: true}},
	{name: "no header blank file", input: "\n\r\n", opts: Options{NoHeader: true}},
	{name: "no header one record", input: "1,2", opts: Options{NoHeader: true}},
	{name: "no header trailing delimiter", input: "1,2,\n3,4,\n", opts: Options{NoHeader: true, TrailingDelimiter: true}},

	// Limits.
	{name: "field limit", input: "a,b\n1,12345\n\"123456\",x\n\"12\"\"34\",1\n12,1234\n\"1234\"x,1\n1,\"12345\n", opts: Options{MaxFieldSize: 4}},
	{name: "field limit with escapes", input: "a\n\"\\\"\\\"\\\"\\\"\"\n\"\\n\\n\\n\"\n", opts: Options{MaxFieldSize: 4, Escape: EscapeBackslash}},
	{name: "field limit in the header", input: "abc,abcdef\n1,2\n", opts: Options{MaxFieldSize: 4}},
	{name: "column limit", input: "a,b\n1,2,3\n\"1\",2\n1,2,\n\"1\",\"2\",\"\"\n", opts: Options{MaxColumns: 2}},
	{name: "column limit in the header", input: "a,b,c\n1,2\n", opts: Options{MaxColumns: 2}},
	{name: "quoted header over the column limit", input: "\"a\",b,c\n1,2\n", opts: Options{MaxColumns: 2}},
	{name: "column limit with trailing delimiter", input: "a,b,\n1,2,\n1,2,3,\n1,2,3\n", opts: Options{MaxColumns: 2, TrailingDelimiter: true}},
	{name: "oversized record over the column limit", input: "a,b\n1,2\n1,2,3,4,5,6,7\n", opts: Options{MaxRecordSize: 8, MaxColumns: 3}},
	{name: "oversized header over the column limit", input: "a,b,c,d,e,f\n1\n", opts: Options{MaxRecordSize: 8, MaxColumns: 3}},
	{name: "oversized record with a nul in quotes", input: "a\n\"\x00\",1,2,3,4\n", opts: Options{MaxRecordSize: 8, MaxColumns: 2}},
	{name: "oversized open quote with many delimiters", input: "a,b\n\"1,2,3,4,5,6,7\n", opts: Options{MaxRecordSize: 8, MaxColumns: 3}},
	{name: "oversized record just over the column limit with trailing delimiter", input: "a\n1,2,3,4,\n", opts: Options{MaxRecordSize: 7, MaxColumns: 3, TrailingDelimiter: true}},
	{name: "oversized record at the column limit with trailing delimiter", input: "a\n1,2,3,4,\n", opts: Options{MaxRecordSize: 7, MaxColumns: 4, TrailingDelimiter: true}},
	{name: "oversized preamble", input: "abcdefghijk,l\nid\n1\n", opts: Options{MaxRecordSize: 8, MaxColumns: 1, HeaderRow: 2}},
	{name: "oversized comment", input: "#,,,,,,,,,,,,\nid\n1\n", opts: Options{MaxRecordSize: 8, MaxColumns: 1, Comment: '#'}},
	{name: "oversized first record without a header", input: "\n1,2,3,4,5\n", opts: Options{MaxRecordSize: 4, MaxColumns: 2, NoHeader: true}},
	{name: "no header first record fills a chunk", input: "1234567890\n1\n2\n", opts: Options{NoHeader: true, TargetChunkSize: 4}},
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

func TestSplitterHeaderOptions(t *testing.T) {
	tests := []struct {
		name    string
		input   string
		opts    Options
		want    []string
		wantErr string
		is      error
		rows    int64 // Rows after Header
		chunks  []Chunk
	}{
		{
			name: "comments before the header", input: "# exported\n#\nid,name\n1,a\n#x\n", opts: Options{Comment: '#'},
			want: []string{"id", "name"}, rows: 3,
			chunks: []Chunk{{Seq: 1, FirstRow: 4, Rows: 2, Data: []byte("1,a\n#x\n")}},
		},
		{
			name: "header row after a preamble and a bom", input: "\xEF\xBB\xBFBank statement\r\n\r\nid;x\r\n1;2\r\n", opts: Options{Delimiter: ';', HeaderRow: 3},
			want: []string{"id", "x"}, rows: 3,
			chunks: []Chunk{{Seq: 1, FirstRow: 4, Rows: 1, Data: []byte("1;2\r\n")}},
		},
		{
			name: "preamble records may span lines", input: "a,\"b\n\n\"c\n\"x\"\"\"\nid\n1\n", opts: Options{HeaderRow: 3},
			want: []string{"id"}, rows: 3,
			chunks: []Chunk{{Seq: 1, FirstRow: 4, Rows: 1, Data: []byte("1\n")}},
		},
		{
			name: "header row then comments", input: "t\n#a\nid\n1\n", opts: Options{HeaderRow: 2, Comment: '#'},
			want: []string{"id"}, rows: 3,
			chunks: []Chunk{{Seq: 1, FirstRow: 4, Rows: 1, Data: []byte("1\n")}},
		},
		{
			name: "trailing delimiter in the header", input: "id,name,\n1,a,\n", opts: Options{TrailingDelimiter: true},
			want: []string{"id", "name"}, rows: 1,
			chunks: []Chunk{{Seq: 1, FirstRow: 2, Rows: 1, Data: []byte("1,a,\n")}},
		},
		{
			name: "no header", input: "1,2,3\n4,5,6\n", opts: Options{NoHeader: true},
			want: []string{"1", "2", "3"}, rows: 1,
			chunks: []Chunk{{Seq: 1, FirstRow: 1, Rows: 2, Data: []byte("1,2,3\n4,5,6\n")}},
		},
		{
			name: "no header counts the first data record", input: "\xEF\xBB\xBF\n#c\n7;8\n1;2;3\n", opts: Options{NoHeader: true, Delimiter: ';', Comment: '#'},
			want: []string{"1", "2"}, rows: 3,
			chunks: []Chunk{{Seq: 1, FirstRow: 3, Rows: 2, Data: []byte("7;8\n1;2;3\n")}},
		},
		{
			name: "no header after a preamble", input: "Report\n1|2\n", opts: Options{NoHeader: true, HeaderRow: 2, Delimiter: '|'},
			want: []string{"1", "2"}, rows: 2,
			chunks: []Chunk{{Seq: 1, FirstRow: 2, Rows: 1, Data: []byte("1|2\n")}},
		},
		{
			name: "no header with a trailing delimiter", input: "a,b,c,\n", opts: Options{NoHeader: true, TrailingDelimiter: true},
			want: []string{"1", "2", "3"}, rows: 1,
			chunks: []Chunk{{Seq: 1, FirstRow: 1, Rows: 1, Data: []byte("a,b,c,\n")}},
		},
		{
			name: "no header, first record quoted over lines", input: "\"a\nb\",c\n", opts: Options{NoHeader: true},
			want: []string{"1", "2"}, rows: 1,
			chunks: []Chunk{{Seq: 1, FirstRow: 1, Rows: 1, Data: []byte("\"a\nb\",c\n")}},
		},
		{
			name: "no header, malformed first record stays data", input: "1,\"a\"b\n2,c\n", opts: Options{NoHeader: true},
			wantErr: "row 1, column 2: unexpected character after closing quote", rows: 1,
			chunks: []Chunk{{Seq: 1, FirstRow: 1, Rows: 2, Data: []byte("1,\"a\"b\n2,c\n")}},
		},
		{name: "no header, empty", input: "", opts: Options{NoHeader: true}, wantErr: "the file is empty", is: ErrEmptyFile},
		{name: "no header, only blanks and comments", input: "\n#a\r\n\r", opts: Options{NoHeader: true, Comment: '#'}, wantErr: "the file is empty", is: ErrEmptyFile, rows: 3},
		{name: "header row past the end", input: "a\nb\n", opts: Options{HeaderRow: 4}, wantErr: "row 4: the file ends before the header row", rows: 2},
		{name: "only comments", input: "#a\n#b", opts: Options{Comment: '#'}, wantErr: "row 3: the file ends before the header row", rows: 2},
		{
			name: "blank header after comments", input: "#a\n\nid\n", opts: Options{Comment: '#'},
			wantErr: "row 2: the header row is blank; it must hold the column names", rows: 2,
			chunks: []Chunk{{Seq: 1, FirstRow: 3, Rows: 1, Data: []byte("id\n")}},
		},
		{
			name: "header over the column limit", input: "a,\"b\",c\n1,2\n", opts: Options{MaxColumns: 2},
			wantErr: "the header has 3 columns; the limit is 2", rows: 1,
			chunks: []Chunk{{Seq: 1, FirstRow: 2, Rows: 1, Data: []byte("1,2\n")}},
		},
		{
			name: "header field over the field limit", input: "id,abcdef\n1,2\n", opts: Options{MaxFieldSize: 5},
			wantErr: "row 1, column 2: field is larger than the 5-byte field limit", rows: 1,
			chunks: []Chunk{{Seq: 1, FirstRow: 2, Rows: 1, Data: []byte("1,2\n")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSplitter(strings.NewReader(tt.input), tt.opts)
			got, err := s.Header()
			if tt.wantErr != "" {
				require.EqualError(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
			}
			if tt.is != nil {
				require.ErrorIs(t, err, tt.is)
			}
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.rows, s.Rows())
			var chunks []Chunk
			for {
				c, err := s.Next()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				chunks = append(chunks, c)
			}
			require.Equal(t, tt.chunks, chunks)
		})
	}
}

func TestSplitterLimitErrorTypes(t *testing.T) {
	tests := []struct {
		name   string
		input  string
		opts   Options
		header bool // the error comes from Header, else from Next
		want   LimitError
	}{
		{name: "header columns", input: "a,b,c\n", opts: Options{MaxColumns: 2}, header: true, want: LimitError{What: LimitColumns, Row: 1, Limit: 2, Got: 3, Header: true}},
		{name: "oversized header columns", input: "a,b,c,d,e\n", opts: Options{MaxColumns: 2, MaxRecordSize: 6}, header: true, want: LimitError{What: LimitColumns, Row: 1, Limit: 2, Header: true}},
		{name: "oversized record columns", input: "a\n1,2,3,4,5\n", opts: Options{MaxColumns: 2, MaxRecordSize: 6}, want: LimitError{What: LimitColumns, Row: 2, Limit: 2}},
		{name: "oversized record", input: "a\n1234567\n", opts: Options{MaxRecordSize: 6}, want: LimitError{What: LimitRecord, Row: 2, Limit: 6}},
		{name: "oversized record after a preamble", input: "t\n\na\n1,234567\n", opts: Options{MaxRecordSize: 6, HeaderRow: 3}, want: LimitError{What: LimitRecord, Row: 4, Limit: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSplitter(strings.NewReader(tt.input), tt.opts)
			_, err := s.Header()
			if !tt.header {
				require.NoError(t, err)
				_, err = s.Next()
			}
			var limit *LimitError
			require.ErrorAs(t, err, &limit)
			require.Equal(t, tt.want, *limit)
		})
	}
}

// TestSplitterHostileInputs feeds the Splitter and the Reader inputs made to
// exhaust memory, generated as they are read: each must fail with an error
// that names the limit, having read about the limit plus a buffer.
func TestSplitterHostileInputs(t *testing.T) {
	// What the Splitter may read: its buffer limit.
	bound := DefaultTargetChunkSize + DefaultMaxRecordSize + 2*readSize

	t.Run("a 1 GB line without a line break", func(t *testing.T) {
		r := &cycle{unit: []byte("x")}
		s := NewSplitter(r, Options{})
		_, err := s.Header()
		require.EqualError(t, err, "row 1 is larger than the 1048576-byte record limit (is a quote not closed?)")
		var limit *LimitError
		require.ErrorAs(t, err, &limit)
		require.Equal(t, LimitError{What: LimitRecord, Row: 1, Limit: DefaultMaxRecordSize}, *limit)
		require.LessOrEqual(t, r.n, DefaultMaxRecordSize+2*readSize)
		_, err = s.Next()
		require.Equal(t, limit.Row, err.(*RecordTooLargeError).Row)
	})
	t.Run("a 1 GB line after the header", func(t *testing.T) {
		r := &cycle{head: []byte("id,name\n1,a\n"), unit: []byte("y")}
		s := NewSplitter(r, Options{})
		_, err := s.Header()
		require.NoError(t, err)
		c, err := s.Next()
		require.NoError(t, err)
		require.Equal(t, Chunk{Seq: 1, FirstRow: 2, Rows: 1, Data: []byte("1,a\n")}, c)
		_, err = s.Next()
		require.EqualError(t, err, "row 3 is larger than the 1048576-byte record limit (is a quote not closed?)")
		require.LessOrEqual(t, r.n, bound)
	})
	t.Run("a 100 MB field", func(t *testing.T) {
		in := &counter{r: io.MultiReader(
			strings.NewReader("id,note\n1,"),
			io.LimitReader(&cycle{unit: []byte("z")}, 100<<20),
			strings.NewReader("\n2,ok\n"),
		)}
		s := NewSplitter(in, Options{})
		_, err := s.Header()
		require.NoError(t, err)
		_, err = s.Next()
		require.EqualError(t, err, "row 2 is larger than the 1048576-byte record limit (is a quote not closed?)")
		require.LessOrEqual(t, in.n, bound)
	})
	t.Run("a 100 MB field under a larger record limit", func(t *testing.T) {
		opts := Options{MaxRecordSize: 8 << 20, MaxFieldSize: 1 << 20}
		in := &counter{r: io.MultiReader(
			strings.NewReader("id,note\n1,"),
			io.LimitReader(&cycle{unit: []byte("z")}, 100<<20),
			strings.NewReader("\n2,ok\n"),
		)}
		s := NewSplitter(in, opts)
		_, err := s.Header()
		require.NoError(t, err)
		_, err = s.Next()
		require.EqualError(t, err, "row 2 is larger than the 8388608-byte record limit (is a quote not closed?)")
		require.LessOrEqual(t, in.n, DefaultTargetChunkSize+opts.MaxRecordSize+2*readSize)
	})
	t.Run("a field over the field limit in a record within the record limit", func(t *testing.T) {
		opts := Options{MaxRecordSize: 4 << 20, MaxFieldSize: 1 << 20}
		field := bytes.Repeat([]byte("\"\"z"), 1<<20)
		data := slices.Concat([]byte("id,note\n1,\""), field, []byte("\"\n2,ok\n"))
		s := NewSplitter(bytes.NewReader(data), opts)
		_, err := s.Header()
		require.NoError(t, err)
		c, err := s.Next()
		require.NoError(t, err)
		r := NewReader(c.Data, c.FirstRow, opts)
		row, _, err := r.Next()
		require.Equal(t, int64(2), row)
		require.EqualError(t, err, "row 2, column 2: field is larger than the 1048576-byte field limit")
		var limit *LimitError
		require.ErrorAs(t, err, &limit)
		require.Equal(t, LimitError{What: LimitField, Row: 2, Column: 2, Limit: 1 << 20, Got: 2 << 20}, *limit)
		_, _, err = r.Next()
		require.ErrorIs(t, err, io.EOF)
		c, err = s.Next()
		require.NoError(t, err)
		require.Equal(t, Chunk{Seq: 2, FirstRow: 3, Rows: 1, Data: []byte("2,ok\n")}, c)
	})
	t.Run("a header of 100000 columns", func(t *testing.T) {
		var b bytes.Buffer
		for i := range 100000 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("c" + strconv.Itoa(i+1))
		}
		b.WriteString("\n1,2\n")
		require.Less(t, b.Len(), DefaultMaxRecordSize)
		s := NewSplitter(&b, Options{})
		_, err := s.Header()
		require.EqualError(t, err, "the header has 100000 columns; the limit is 10000")
		var limit *LimitError
		require.ErrorAs(t, err, &limit)
		require.Equal(t, LimitError{What: LimitColumns, Row: 1, Limit: DefaultMaxColumns, Got: 100000, Header: true}, *limit)
	})
	t.Run("an endless header of columns", func(t *testing.T) {
		r := &cycle{unit: []byte("col,")}
		s := NewSplitter(r, Options{})
		_, err := s.Header()
		require.EqualError(t, err, "the header has more than 10000 columns; the limit is 10000")
		require.LessOrEqual(t, r.n, DefaultMaxRecordSize+2*readSize)
	})
	t.Run("an endless record of columns", func(t *testing.T) {
		r := &cycle{head: []byte("a,b\n"), unit: []byte("1,")}
		s := NewSplitter(r, Options{})
		_, err := s.Header()
		require.NoError(t, err)
		_, err = s.Next()
		require.EqualError(t, err, "row 2: the record has more than 10000 fields; the limit is 10000 columns")
		require.LessOrEqual(t, r.n, bound)
	})
	t.Run("a record of 100000 columns within the record limit", func(t *testing.T) {
		data := slices.Concat([]byte("a,b\n"), bytes.Repeat([]byte("1,"), 99999), []byte("1\n2,3\n"))
		s := NewSplitter(bytes.NewReader(data), Options{})
		_, err := s.Header()
		require.NoError(t, err)
		c, err := s.Next()
		require.NoError(t, err)
		read := func() error {
			_, _, err := NewReader(c.Data, c.FirstRow, Options{}).Next()
			return err
		}
		require.EqualError(t, read(), "row 2: the record has 100000 fields; the limit is 10000 columns")
		// The count is checked before the fields are made.
		require.LessOrEqual(t, testing.AllocsPerRun(5, func() { _ = read() }), 10.0)
	})
}
