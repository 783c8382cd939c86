package delimited

import (
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestReaderRecords(t *testing.T) {
	tests := []struct {
		name  string
		input string
		opts  Options
		want  []record
	}{
		{name: "lf", input: "a,b\n1,2\n", want: []record{{Row: 1, Fields: []string{"a", "b"}}, {Row: 2, Fields: []string{"1", "2"}}}},
		{name: "crlf, cr and missing terminator", input: "a\r\nb\rc\nd", want: []record{
			{Row: 1, Fields: []string{"a"}}, {Row: 2, Fields: []string{"b"}}, {Row: 3, Fields: []string{"c"}}, {Row: 4, Fields: []string{"d"}},
		}},
		{name: "blank records count", input: "a\n\n\r\n\rb\n\n", want: []record{{Row: 1, Fields: []string{"a"}}, {Row: 5, Fields: []string{"b"}}}},
		{name: "only blank records", input: "\r\n\n\r"},
		{name: "empty", input: ""},
		{name: "quoted newlines kept as written", input: "\"x\ny\",z\r\n\"p\r\nq\",\"r\rs\"\nw", want: []record{
			{Row: 1, Fields: []string{"x\ny", "z"}}, {Row: 2, Fields: []string{"p\r\nq", "r\rs"}}, {Row: 3, Fields: []string{"w"}},
		}},
		{name: "doubled quotes", input: `"a""b","""",""""""` + "\n", want: []record{{Row: 1, Fields: []string{`a"b`, `"`, `""`}}}},
		{name: "delimiter in quotes", input: `"a,b",c,"d,"`, want: []record{{Row: 1, Fields: []string{"a,b", "c", "d,"}}}},
		{name: "empty fields", input: ",,\n\"\",\n\"\"\n", want: []record{
			{Row: 1, Fields: []string{"", "", ""}}, {Row: 2, Fields: []string{"", ""}}, {Row: 3, Fields: []string{""}},
		}},
		{name: "fields as written", input: " a , 007 ,\tx\t,1e5\n", want: []record{{Row: 1, Fields: []string{" a ", " 007 ", "\tx\t", "1e5"}}}},
		{name: "quote after a space is bare", input: "a, \"b\"\n", want: []record{{Row: 1, Err: "row 1, column 2: bare quote in unquoted field"}}},
		{name: "quoted spaces", input: "\" a \",\"007\"", want: []record{{Row: 1, Fields: []string{" a ", "007"}}}},
		{name: "unicode", input: "É,日本,😀\n\"Ł\nź\",x\n", want: []record{{Row: 1, Fields: []string{"É", "日本", "😀"}}, {Row: 2, Fields: []string{"Ł\nź", "x"}}}},
		{name: "semicolon and single quote", input: "'a;b';c;'it''s'\n", opts: Options{Delimiter: ';', Quote: '\''}, want: []record{
			{Row: 1, Fields: []string{"a;b", "c", "it's"}},
		}},
		{name: "double quote is data in single quote dialect", input: "\"a\";b\n", opts: Options{Delimiter: ';', Quote: '\''}, want: []record{
			{Row: 1, Fields: []string{`"a"`, "b"}},
		}},
		{name: "tab", input: "a\t\"b\tc\"\t\n", opts: Options{Delimiter: '\t'}, want: []record{{Row: 1, Fields: []string{"a", "b\tc", ""}}}},
		{name: "bare quote, then the next record", input: "1,a\"b\"\n2,x\n", want: []record{
			{Row: 1, Err: "row 1, column 2: bare quote in unquoted field"}, {Row: 2, Fields: []string{"2", "x"}},
		}},
		{name: "bare quote spans lines by quote parity", input: "1,a\"b\n2,x\"\n3,y\n", want: []record{
			{Row: 1, Err: "row 1, column 2: bare quote in unquoted field"}, {Row: 2, Fields: []string{"3", "y"}},
		}},
		{name: "text after closing quote", input: "\"ab\"c,d\nx\n", want: []record{
			{Row: 1, Err: "row 1, column 1: unexpected character after closing quote"}, {Row: 2, Fields: []string{"x"}},
		}},
		{name: "space after closing quote", input: "a,\"b\" \n", want: []record{{Row: 1, Err: "row 1, column 2: unexpected character after closing quote"}}},
		{name: "unclosed quote at end", input: "x\n1,\"abc\n2,d\n", want: []record{
			{Row: 1, Fields: []string{"x"}}, {Row: 2, Err: "row 2, column 2: quoted field not closed"},
		}},
		{name: "lone quote", input: "\"", want: []record{{Row: 1, Err: "row 1, column 1: quoted field not closed"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := readAll(t, []byte(tt.input), 1, tt.opts)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestReaderRowNumbers(t *testing.T) {
	r := NewReader([]byte("a,\"b\nc\"\n\nx\"y\"z\n\r\nlast"), 7, Options{})
	row, fields, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, int64(7), row)
	require.Equal(t, []string{"a", "b\nc"}, fields)

	row, fields, err = r.Next()
	require.Equal(t, int64(9), row)
	require.Nil(t, fields)
	require.EqualError(t, err, "row 9, column 1: bare quote in unquoted field")
	var re *RecordError
	require.ErrorAs(t, err, &re)
	require.Equal(t, RecordError{Row: 9, Column: 1, Reason: ReasonBareQuote}, *re)

	row, fields, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, int64(11), row)
	require.Equal(t, []string{"last"}, fields)

	for range 2 {
		_, _, err = r.Next()
		require.ErrorIs(t, err, io.EOF)
	}
}

func TestReaderDoesNotAliasData(t *testing.T) {
	data := []byte("abc,\"d\"\"e\"\n")
	_, fields, err := NewReader(data, 1, Options{}).Next()
	require.NoError(t, err)
	for i := range data {
		data[i] = 'z'
	}
	require.Equal(t, []string{"abc", `d"e`}, fields)
}

func TestReaderInvalidOptions(t *testing.T) {
	_, _, err := NewReader([]byte("a\n"), 1, Options{Quote: '\n'}).Next()
	require.EqualError(t, err, `delimited options: quote '\n': a line terminator cannot quote fields`)
}

func TestRecordErrorMessage(t *testing.T) {
	tests := []struct {
		err  RecordError
		want string
	}{
		{err: RecordError{Row: 7, Column: 3, Reason: ReasonBareQuote}, want: "row 7, column 3: bare quote in unquoted field"},
		{err: RecordError{Row: 1, Reason: ReasonBlankHeader}, want: "row 1: the header row is blank; it must hold the column names"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.err.Error())
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "defaults", opts: Options{}},
		{name: "semicolon", opts: Options{Delimiter: ';', Quote: '\''}},
		{name: "same delimiter and quote", opts: Options{Delimiter: '\'', Quote: '\''}, wantErr: `delimited options: delimiter and quote are both '\''`},
		{name: "newline delimiter", opts: Options{Delimiter: '\n'}, wantErr: `delimited options: delimiter '\n': a line terminator cannot separate fields`},
		{name: "negative sizes", opts: Options{TargetChunkSize: -1, MaxRecordSize: -2}, wantErr: "delimited options: target chunk size -1: must not be negative\nmax record size -2: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.wantErr)
		})
	}
}
