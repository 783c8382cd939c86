package outfile

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/formats/textenc"
)

// mixedColumns has one column of each kind.
var mixedColumns = []Column{
	{Header: "id", Kind: Integer},
	{Header: "name", Kind: String},
	{Header: "price", Kind: Decimal},
	{Header: "active", Kind: Bool},
	{Header: "born", Kind: Date},
	{Header: "seen", Kind: Timestamp},
	{Header: "meta", Kind: JSON},
	{Header: "note", Kind: String},
}

// mixedRows returns rows for mixedColumns with sample, text the encoding
// holds, and the fields a CSV reader must read back.
func mixedRows(sample string) (rows [][]Value, want [][]string) {
	berlin := time.FixedZone("CEST", 2*3600)
	rows = [][]Value{
		{integer("1"), str(sample), decimal("1234.50"), boolean(true), date(2024, 5, 1),
			timestamp(time.Date(2024, 5, 1, 7, 0, 0, 500_000_000, time.UTC)), jsonv(`{"a": [1, 2.50]}`), str("say \"hi\", then\r\nleave")},
		{integer("-12"), str("  padded\t"), decimal("-0.001"), boolean(false), date(1999, 12, 31),
			timestamp(time.Date(2024, 5, 1, 9, 0, 0, 0, berlin)), jsonv("[1,2]"), str("")},
		{integer("12345678901234567890123"), null, null, null, null, null, null, str("=SUM(A1)")},
		{integer("0"), str("007"), decimal("0.10"), null, date(1, 1, 1), timestamp(time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)), jsonv("-1"), str("-")},
	}
	want = [][]string{
		{"id", "name", "price", "active", "born", "seen", "meta", "note"},
		{"1", sample, "1234.50", "true", "2024-05-01", "2024-05-01T07:00:00.5Z", `{"a": [1, 2.50]}`, "say \"hi\", then\r\nleave"},
		{"-12", "  padded\t", "-0.001", "false", "1999-12-31", "2024-05-01T07:00:00Z", "[1,2]", ""},
		{"12345678901234567890123", "", "", "", "", "", "", "'=SUM(A1)"},
		{"0", "007", "0.10", "", "0001-01-01", "9999-12-31T23:59:59.999999999Z", "'-1", "'-"},
	}
	return rows, want
}

func TestCSVRoundTrip(t *testing.T) {
	samples := map[string]string{
		"utf-8":        "Zoë ☃ 😀 東京 €",
		"utf-16le":     "Zoë ☃ 😀 東京 €",
		"utf-16be":     "Zoë ☃ 😀 東京 €",
		"windows-1252": "Zoë € “quoted” ½ Œ",
		"iso-8859-1":   "Zoë ½ ß ÿ",
		"iso-8859-15":  "Zoë € œ Ÿ",
		"shift_jis":    "山田太郎 ｶﾀｶﾅ ①",
		"gbk":          "张三 北京市 €",
	}
	for _, name := range textenc.Names() {
		t.Run(name, func(t *testing.T) {
			enc, err := textenc.Lookup(name)
			require.NoError(t, err)
			sample, ok := samples[name]
			require.True(t, ok, "no sample for %s", name)
			rows, want := mixedRows(sample)
			out, stats := write(t, mixedColumns, Options{Format: CSV, Encoding: name}, rows...)
			// encoding/csv reads CRLF inside quotes as LF; TestCSVQuoting
			// checks the bytes.
			want[1][7] = strings.ReplaceAll(want[1][7], "\r\n", "\n")
			require.Equal(t, want, readCSV(t, out, enc, ','))
			require.Equal(t, Stats{Rows: int64(len(rows)), Bytes: int64(len(out))}, stats)
		})
	}
}

func TestCSVQuoting(t *testing.T) {
	two := []Column{{Header: "a", Kind: String}, {Header: "b", Kind: String}}
	tests := []struct {
		name string
		cols []Column
		o    Options
		rows [][]Value
		want string
	}{
		{"plain", two, Options{}, [][]Value{{str("x"), str("y z")}}, "a,b\r\nx,y z\r\n"},
		{"delimiter quote and line breaks", two, Options{}, [][]Value{{str("a,b"), str(`say "hi"`)}, {str("1\n2"), str("3\r4")}},
			"a,b\r\n\"a,b\",\"say \"\"hi\"\"\"\r\n\"1\n2\",\"3\r4\"\r\n"},
		{"leading and trailing spaces", two, Options{}, [][]Value{{str(" lead"), str("trail ")}, {str("\tx"), str("in side")}},
			"a,b\r\n\" lead\",\"trail \"\r\n'\tx,in side\r\n"},
		{"empty string and null", two, Options{}, [][]Value{{str(""), null}, {null, null}}, "a,b\r\n\"\",\r\n,\r\n"},
		{"one column null", []Column{{Header: "a", Kind: String}}, Options{}, [][]Value{{null}, {str("")}}, "a\r\n\"\"\r\n\"\"\r\n"},
		{"quote all", two, Options{QuoteAll: true}, [][]Value{{str("x"), null}}, "\"a\",\"b\"\r\n\"x\",\r\n"},
		{"semicolon and LF", two, Options{Delimiter: ';', LF: true}, [][]Value{{str("a,b"), str("c;d")}}, "a;b\na,b;\"c;d\"\n"},
		{"tab", two, Options{Delimiter: '\t'}, [][]Value{{str("a b"), str("c\td")}}, "a\tb\r\na b\t\"c\td\"\r\n"},
		{"no header", two, Options{NoHeader: true}, [][]Value{{str("x"), str("y")}}, "x,y\r\n"},
		{"header guarded and quoted", []Column{{Header: "=a", Kind: String}, {Header: "b,c", Kind: String}}, Options{},
			[][]Value{{str("x"), str("y")}}, "'=a,\"b,c\"\r\nx,y\r\n"},
		{"column formats", []Column{
			{Header: "n", Kind: Decimal, DecimalSeparator: ','},
			{Header: "b", Kind: Bool, TrueWord: "ja", FalseWord: "nein"},
			{Header: "d", Kind: Date, DateFormat: layout(t, "DD.MM.YYYY")},
			{Header: "t", Kind: Timestamp, DateFormat: layout(t, "DD/MM/YYYY HH:mm:ss.SSS")},
		}, Options{Delimiter: ';'}, [][]Value{
			{decimal("-1234.50"), boolean(true), date(2024, 5, 1), timestamp(time.Date(2024, 5, 1, 9, 30, 0, 0, time.FixedZone("", 3600)))},
			{integer("7"), boolean(false), null, null},
		}, "n;b;d;t\r\n-1234,50;ja;01.05.2024;01/05/2024 08:30:00.000\r\n7;nein;;\r\n"},
		{"decimal separator equal to delimiter", []Column{{Header: "n", Kind: Decimal, DecimalSeparator: ','}}, Options{},
			[][]Value{{decimal("1.5")}}, "n\r\n\"1,5\"\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Format = CSV
			out, _ := write(t, tt.cols, tt.o, tt.rows...)
			require.Equal(t, tt.want, string(out))
		})
	}
}

func TestCSVBOM(t *testing.T) {
	cols := []Column{{Header: "a", Kind: String}}
	tests := []struct {
		encoding string
		want     []byte
	}{
		{"utf-8", []byte("\xEF\xBB\xBFa\r\né\r\n")},
		{"utf-16le", []byte("\xFF\xFEa\x00\r\x00\n\x00\xE9\x00\r\x00\n\x00")},
		{"utf-16be", []byte("\xFE\xFF\x00a\x00\r\x00\n\x00\xE9\x00\r\x00\n")},
	}
	for _, tt := range tests {
		t.Run(tt.encoding, func(t *testing.T) {
			out, _ := write(t, cols, Options{Format: CSV, Encoding: tt.encoding, BOM: true}, []Value{str("é")})
			require.Equal(t, tt.want, out)
			noBOM, _ := write(t, cols, Options{Format: CSV, Encoding: tt.encoding}, []Value{str("é")})
			require.Equal(t, tt.want[len(tt.want)-len(noBOM):], noBOM)
		})
	}
	for _, name := range []string{"windows-1252", "iso-8859-1", "iso-8859-15", "shift_jis", "gbk"} {
		_, err := New(&bytes.Buffer{}, cols, Options{Format: CSV, Encoding: name, BOM: true})
		require.ErrorContains(t, err, "encoding "+name+" has no byte-order mark", name)
	}
}

// TestParts writes the same rows as one file and as two parts, the second
// with NoHeader: the parts concatenate to the file's bytes.
func TestParts(t *testing.T) {
	rows, _ := mixedRows("Zoë")
	for _, format := range []Format{CSV, JSONL} {
		for _, encoding := range []string{"utf-8", "utf-16le", "windows-1252"} {
			if format == JSONL && encoding != "utf-8" {
				continue
			}
			t.Run(format.String()+"/"+encoding, func(t *testing.T) {
				o := Options{Format: format, Encoding: encoding, BOM: encoding != "windows-1252" && format == CSV}
				whole, ws := write(t, mixedColumns, o, rows...)
				first, s1 := write(t, mixedColumns, o, rows[:1]...)
				o.NoHeader = true
				second, s2 := write(t, mixedColumns, o, rows[1:]...)
				require.Equal(t, whole, append(first, second...))
				require.Equal(t, ws.Rows, s1.Rows+s2.Rows)
				require.Equal(t, ws.Bytes, s1.Bytes+s2.Bytes)
			})
		}
	}
}

func TestFormulaGuard(t *testing.T) {
	cols := []Column{
		{Header: "s", Kind: String}, {Header: "j", Kind: JSON},
		{Header: "i", Kind: Integer}, {Header: "d", Kind: Decimal},
		{Header: "t", Kind: Date, DateFormat: layout(t, "'-'YYYY-MM-DD")}, {Header: "b", Kind: Bool, TrueWord: "=yes", FalseWord: "-no"},
	}
	triggers := []string{"=", "+", "-", "@", "\t", "\r", "\x00"}
	for _, trig := range triggers {
		t.Run(strings.ToValidUTF8(trig, "?"), func(t *testing.T) {
			text := trig + "1+2"
			row := []Value{str(text), jsonv(text), integer("-5"), decimal("-5.25"), date(2024, 1, 2), boolean(true)}
			want := []string{"'" + text, "'" + text, "-5", "-5.25", "-2024-01-02", "=yes"}

			out, _ := write(t, cols, Options{Format: CSV}, row)
			got := readCSV(t, out, textenc.UTF8, ',')
			require.Equal(t, want, got[1])

			out, _ = write(t, cols, Options{Format: CSV, AllowFormulas: true}, row)
			got = readCSV(t, out, textenc.UTF8, ',')
			require.Equal(t, []string{text, text, "-5", "-5.25", "-2024-01-02", "=yes"}, got[1])

			if trig == "\x00" {
				return // XML cannot hold NUL; see TestUnencodableXLSX
			}
			out, _ = write(t, cols, Options{Format: XLSX}, row)
			xrows := readXLSX(t, out, "Sheet1")
			require.Equal(t, []string{"'" + text, "'" + text, "-5", "-5.25"}, xrows[1][:4])
		})
	}
	t.Run("safe text", func(t *testing.T) {
		out, _ := write(t, cols[:2], Options{Format: CSV}, []Value{str("a=b"), jsonv(" =1")})
		require.Equal(t, "s,j\r\na=b,\" =1\"\r\n", string(out))
	})
}

func TestUnencodableCSV(t *testing.T) {
	cols := []Column{{Header: "id", Kind: Integer}, {Header: "name", Kind: String}, {Header: "city", Kind: String}}
	rows := [][]Value{
		{integer("1"), str("Zoë"), str("Paris")},
		{integer("2"), str("12 €"), str("Köln")},
		{integer("3"), str("plain"), str("x")},
		{integer("4"), str("€ and €"), str("Ω")},
	}
	out, stats, err := tryWrite(t, cols, Options{Format: CSV, Encoding: "iso-8859-1"}, rows...)
	var ue *UnencodableError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, &UnencodableError{Encoding: "iso-8859-1", Rows: []int64{2, 4}, Columns: []string{"name", "city"}, Count: 2, Example: '€'}, ue)
	require.Equal(t, `2 rows have characters that the encoding iso-8859-1 cannot hold, such as "€" (U+20AC); rows 2, 4 in columns "name", "city"; choose an encoding such as utf-8, or allow replacing them`, err.Error())
	require.NotContains(t, string(out), "?")
	require.Equal(t, int64(1), stats.Rows)

	out, stats = write(t, cols, Options{Format: CSV, Encoding: "iso-8859-1", ReplaceUnencodable: true}, rows...)
	require.Equal(t, Stats{Rows: 4, Bytes: int64(len(out)), Replaced: 4}, stats)
	require.Equal(t, [][]string{{"id", "name", "city"}, {"1", "Zoë", "Paris"}, {"2", "12 ?", "Köln"}, {"3", "plain", "x"}, {"4", "? and ?", "?"}},
		readCSV(t, out, textenc.ISO88591, ','))

	t.Run("other encodings", func(t *testing.T) {
		for _, tt := range []struct {
			encoding, text string
			bad            rune
		}{
			{"windows-1252", "Ω", 'Ω'},
			{"iso-8859-15", "¤", '¤'},
			{"shift_jis", "a😀", '😀'},
			{"gbk", "北京 😀", '😀'},
			{"utf-8", "bad \xff byte", '\uFFFD'},
			{"utf-16le", "bad \xff byte", '\uFFFD'},
		} {
			_, _, err := tryWrite(t, cols, Options{Format: CSV, Encoding: tt.encoding}, []Value{integer("1"), str(tt.text), null})
			require.ErrorAs(t, err, &ue, tt.encoding)
			require.Equal(t, tt.bad, ue.Example, tt.encoding)
			_, stats := write(t, cols, Options{Format: CSV, Encoding: tt.encoding, ReplaceUnencodable: true}, []Value{integer("1"), str(tt.text), null})
			require.Equal(t, int64(1), stats.Replaced, tt.encoding)
		}
	})
	t.Run("row list is capped", func(t *testing.T) {
		var many [][]Value
		for range 150 {
			many = append(many, []Value{integer("1"), str("€"), null})
		}
		_, stats, err := tryWrite(t, cols, Options{Format: CSV, Encoding: "iso-8859-1"}, many...)
		require.ErrorAs(t, err, &ue)
		require.Len(t, ue.Rows, 100)
		require.Equal(t, int64(150), ue.Count)
		require.Zero(t, stats.Rows)
		require.Contains(t, err.Error(), "rows 1, 2, 3,")
		require.Contains(t, err.Error(), ", 100 and 50 more in columns")
	})
	t.Run("header", func(t *testing.T) {
		_, err := New(&bytes.Buffer{}, []Column{{Header: "prix €", Kind: String}}, Options{Format: CSV, Encoding: "iso-8859-1"})
		require.EqualError(t, err, `write csv: header "prix €" has "€" (U+20AC), which the encoding iso-8859-1 cannot hold`)
		out, stats := write(t, []Column{{Header: "prix €", Kind: String}}, Options{Format: CSV, Encoding: "iso-8859-1", ReplaceUnencodable: true})
		require.Equal(t, "prix ?\r\n", string(out))
		require.Equal(t, int64(1), stats.Replaced)
	})
}
