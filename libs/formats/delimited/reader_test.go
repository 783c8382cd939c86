package delimited

import (
	"errors"
	"fmt"
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
		{name: "every option", opts: Options{
			Delimiter: '\t', Quote: '\'', Escape: EscapeBackslash, Comment: '#', TrailingDelimiter: true, HeaderRow: 3,
			NoHeader: true, TargetChunkSize: 10, MaxRecordSize: 100, MaxFieldSize: 100, MaxColumns: 5,
		}},
		{name: "small record limit lowers the default field limit", opts: Options{MaxRecordSize: 10}},
		{name: "field limit over record limit", opts: Options{MaxRecordSize: 10, MaxFieldSize: 11}, wantErr: "delimited options: max field size 11: must not exceed the max record size 10"},
		{name: "field limit over default record limit", opts: Options{MaxFieldSize: DefaultMaxRecordSize + 1}, wantErr: "delimited options: max field size 1048577: must not exceed the max record size 1048576"},
		{name: "negative limits and header row", opts: Options{HeaderRow: -1, MaxFieldSize: -1, MaxColumns: -1}, wantErr: "delimited options: header row -1: must not be negative\nmax field size -1: must not be negative\nmax columns -1: must not be negative"},
		{name: "unknown escape", opts: Options{Escape: 7}, wantErr: "delimited options: escape 7: must be EscapeDoubled or EscapeBackslash"},
		{name: "backslash quote", opts: Options{Quote: '\\', Escape: EscapeBackslash}, wantErr: `delimited options: quote '\\': the backslash is the escape character`},
		{name: "backslash delimiter", opts: Options{Delimiter: '\\', Escape: EscapeBackslash}, wantErr: `delimited options: delimiter '\\': the backslash is the escape character`},
		{name: "backslash quote without backslash escapes", opts: Options{Quote: '\\'}},
		{name: "comment is the delimiter", opts: Options{Delimiter: ';', Comment: ';'}, wantErr: `delimited options: comment and delimiter are both ';'`},
		{name: "comment is the quote", opts: Options{Comment: '"'}, wantErr: `delimited options: comment and quote are both '"'`},
		{name: "comment is a line terminator", opts: Options{Comment: '\r'}, wantErr: `delimited options: comment '\r': a line terminator cannot start a comment`},
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

func TestReaderOptions(t *testing.T) {
	tests := []struct {
		name  string
		input string
		opts  Options
		want  []record
	}{
		{name: "backslash escapes in quotes", input: `"say \"hi\"","a\\b","c:\\","\n\N\t\x",""` + "\n", opts: Options{Escape: EscapeBackslash}, want: []record{
			{Row: 1, Fields: []string{`say "hi"`, `a\b`, `c:\`, `\n\N\t\x`, ""}},
		}},
		{name: "escaped quote does not end the record", input: "\"a\\\"\nb\",c\nd\n", opts: Options{Escape: EscapeBackslash}, want: []record{
			{Row: 1, Fields: []string{"a\"\nb", "c"}}, {Row: 2, Fields: []string{"d"}},
		}},
		{name: "backslash before a line break in quotes keeps both", input: "\"a\\\r\nb\"\n", opts: Options{Escape: EscapeBackslash}, want: []record{
			{Row: 1, Fields: []string{"a\\\r\nb"}},
		}},
		{name: "backslash is literal outside quotes", input: `C:\temp,\N,a\\b,\` + "\n", opts: Options{Escape: EscapeBackslash}, want: []record{
			{Row: 1, Fields: []string{`C:\temp`, `\N`, `a\\b`, `\`}},
		}},
		{name: "doubled quote still one quote", input: `"a""b","\""""` + "\n", opts: Options{Escape: EscapeBackslash}, want: []record{{Row: 1, Fields: []string{`a"b`, `""`}}}},
		{name: "backslash is data with doubled quotes", input: `"a\","b\\"` + "\n", want: []record{{Row: 1, Fields: []string{`a\`, `b\\`}}}},
		{name: "escaped quote in doubled mode closes the field", input: `"a\"b"` + "\n", want: []record{{Row: 1, Err: "row 1, column 1: unexpected character after closing quote"}}},
		{name: "backslash at the end of a quoted field", input: `"abc\`, opts: Options{Escape: EscapeBackslash}, want: []record{{Row: 1, Err: "row 1, column 1: quoted field not closed"}}},
		{name: "escaped quote after the field", input: `"a"\",b` + "\n", opts: Options{Escape: EscapeBackslash}, want: []record{{Row: 1, Err: "row 1, column 1: unexpected character after closing quote"}}},
		{name: "backslash escapes with single quotes", input: `'it\'s';'"'` + "\n", opts: Options{Delimiter: ';', Quote: '\'', Escape: EscapeBackslash}, want: []record{
			{Row: 1, Fields: []string{"it's", `"`}},
		}},
		{name: "comments count as rows", input: "#a\n1\n#b,\"c\n2\n#\r\n3", opts: Options{Comment: '#'}, want: []record{
			{Row: 2, Fields: []string{"1"}}, {Row: 4, Fields: []string{"2"}}, {Row: 6, Fields: []string{"3"}},
		}},
		{name: "comment character elsewhere is data", input: " #a,#b\n\"#c\"\n", opts: Options{Comment: '#'}, want: []record{
			{Row: 1, Fields: []string{" #a", "#b"}}, {Row: 2, Fields: []string{"#c"}},
		}},
		{name: "comment character inside a quoted line break is data", input: "\"a\n#b\"\n", opts: Options{Comment: '#'}, want: []record{
			{Row: 1, Fields: []string{"a\n#b"}},
		}},
		{name: "no comments by default", input: "#a\n", want: []record{{Row: 1, Fields: []string{"#a"}}}},
		{name: "trailing delimiter dropped", input: "a,b,\n1,,\n,\n\"x\",\n", opts: Options{TrailingDelimiter: true}, want: []record{
			{Row: 1, Fields: []string{"a", "b"}}, {Row: 2, Fields: []string{"1", ""}}, {Row: 3, Fields: []string{""}}, {Row: 4, Fields: []string{"x"}},
		}},
		{name: "missing trailing delimiter", input: "a,b\n1,\"\"\n1,\n", opts: Options{TrailingDelimiter: true}, want: []record{
			{Row: 1, Fields: []string{"a", "b"}}, {Row: 2, Fields: []string{"1", ""}}, {Row: 3, Fields: []string{"1"}},
		}},
		{name: "quoted delimiter is not trailing", input: "\"a,\"\n", opts: Options{TrailingDelimiter: true}, want: []record{{Row: 1, Fields: []string{"a,"}}}},
		{name: "field at the limit", input: "1234,\"12\"\"4\"\n", opts: Options{MaxFieldSize: 4}, want: []record{{Row: 1, Fields: []string{"1234", `12"4`}}}},
		{name: "unquoted field over the limit", input: "1,12345,1\n", opts: Options{MaxFieldSize: 4}, want: []record{
			{Row: 1, Err: "row 1, column 2: field is larger than the 4-byte field limit"},
		}},
		{name: "last unquoted field over the limit", input: "1,12345\n", opts: Options{MaxFieldSize: 4}, want: []record{
			{Row: 1, Err: "row 1, column 2: field is larger than the 4-byte field limit"},
		}},
		{name: "quoted field over the limit", input: "1,\"1,345\"\n", opts: Options{MaxFieldSize: 4}, want: []record{
			{Row: 1, Err: "row 1, column 2: field is larger than the 4-byte field limit"},
		}},
		{name: "field limit counts the value, not the escapes", input: `"\"\"\"\"","\"\"\"\"\""` + "\n", opts: Options{MaxFieldSize: 4, Escape: EscapeBackslash}, want: []record{
			{Row: 1, Err: "row 1, column 2: field is larger than the 4-byte field limit"},
		}},
		{name: "earlier fault wins", input: "a\"b\",12345\n12345,\"a\"b\n", opts: Options{MaxFieldSize: 4}, want: []record{
			{Row: 1, Err: "row 1, column 1: bare quote in unquoted field"}, {Row: 2, Err: "row 2, column 1: field is larger than the 4-byte field limit"},
		}},
		{name: "too many fields", input: "1,2\n1,2,3\n\"1\",2,3\n", opts: Options{MaxColumns: 2}, want: []record{
			{Row: 1, Fields: []string{"1", "2"}}, {Row: 2, Err: "row 2: the record has 3 fields; the limit is 2 columns"}, {Row: 3, Err: "row 3: the record has 3 fields; the limit is 2 columns"},
		}},
		{name: "trailing delimiter field is not counted", input: "1,2,\n1,2,3,\n", opts: Options{MaxColumns: 2, TrailingDelimiter: true}, want: []record{
			{Row: 1, Fields: []string{"1", "2"}}, {Row: 2, Err: "row 2: the record has 3 fields; the limit is 2 columns"},
		}},
		{name: "field faults come before the count", input: "12345,2,3\n", opts: Options{MaxColumns: 2, MaxFieldSize: 4}, want: []record{
			{Row: 1, Err: "row 1, column 1: field is larger than the 4-byte field limit"},
		}},
		{name: "invalid-byte markers are data", input: "\xFFab\xFE,\"\xFE\xFF\"\n", want: []record{{Row: 1, Fields: []string{"\xFFab\xFE", "\xFE\xFF"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := readAll(t, []byte(tt.input), 1, tt.opts)
			require.Equal(t, tt.want, got)
			checkReference(t, []byte(tt.input), tt.opts)
		})
	}
}

func TestReaderLimitErrors(t *testing.T) {
	tests := []struct {
		name  string
		input string
		opts  Options
		want  LimitError
	}{
		{name: "field", input: "h\n1,123456\n", opts: Options{MaxFieldSize: 5}, want: LimitError{What: LimitField, Row: 8, Column: 2, Limit: 5, Got: 6}},
		{name: "quoted field", input: "h\n\"12\"\"3456\"\n", opts: Options{MaxFieldSize: 5}, want: LimitError{What: LimitField, Row: 8, Column: 1, Limit: 5, Got: 7}},
		{name: "columns", input: "h\n1,2,3,4\n", opts: Options{MaxColumns: 3}, want: LimitError{What: LimitColumns, Row: 8, Limit: 3, Got: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader([]byte(tt.input), 7, tt.opts)
			_, _, err := r.Next()
			require.NoError(t, err)
			row, fields, err := r.Next()
			require.Equal(t, tt.want.Row, row)
			require.Nil(t, fields)
			var recErr *RecordError
			require.ErrorAs(t, err, &recErr)
			require.Equal(t, tt.want.Column, recErr.Column)
			var limit *LimitError
			require.ErrorAs(t, err, &limit)
			require.Equal(t, tt.want, *limit)
			require.Equal(t, limit.Error(), err.Error(), "the RecordError and the LimitError say the same")
			require.Equal(t, limit.reason(), recErr.Reason)
			_, _, err = r.Next()
			require.ErrorIs(t, err, io.EOF)
		})
	}
}

func TestLimitErrorMessage(t *testing.T) {
	tests := []struct {
		err  LimitError
		want string
	}{
		{err: LimitError{What: LimitField, Row: 3, Column: 2, Limit: 1 << 20, Got: 2 << 20}, want: "row 3, column 2: field is larger than the 1048576-byte field limit"},
		{err: LimitError{What: LimitColumns, Row: 1, Limit: 10000, Got: 100000, Header: true}, want: "the header has 100000 columns; the limit is 10000"},
		{err: LimitError{What: LimitColumns, Row: 1, Limit: 10000, Header: true}, want: "the header has more than 10000 columns; the limit is 10000"},
		{err: LimitError{What: LimitColumns, Row: 9, Limit: 10000, Got: 10001}, want: "row 9: the record has 10001 fields; the limit is 10000 columns"},
		{err: LimitError{What: LimitColumns, Row: 9, Limit: 10000}, want: "row 9: the record has more than 10000 fields; the limit is 10000 columns"},
		{err: LimitError{What: LimitRecord, Row: 4, Limit: 8}, want: "row 4: the record is larger than the 8-byte record limit"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.err.Error())
	}
}

func TestRecordTooLargeErrorIsALimitError(t *testing.T) {
	var err error = fmt.Errorf("split: %w", &RecordTooLargeError{Row: 4, Limit: 8})
	var limit *LimitError
	require.ErrorAs(t, err, &limit)
	require.Equal(t, LimitError{What: LimitRecord, Row: 4, Limit: 8}, *limit)
	var tooLarge *RecordTooLargeError
	require.ErrorAs(t, err, &tooLarge)
	require.Equal(t, "row 4 is larger than the 8-byte record limit (is a quote not closed?)", tooLarge.Error())
	var recErr *RecordError
	require.False(t, errors.As(err, &recErr), "the Splitter's limit errors are not record errors")
}

func TestEscapeString(t *testing.T) {
	require.Equal(t, "doubled", EscapeDoubled.String())
	require.Equal(t, "backslash", EscapeBackslash.String())
	require.Equal(t, "Escape(9)", Escape(9).String())
}
