package outfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readJSONL decodes each line with encoding/json (UseNumber) and returns the
// objects and the keys of each in order.
func readJSONL(tb testing.TB, data []byte) (objects []map[string]any, keys [][]string) {
	tb.Helper()
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		var obj map[string]any
		require.NoError(tb, d.Decode(&obj), "%s", line)
		require.False(tb, d.More(), "%s", line)
		objects = append(objects, obj)

		d = json.NewDecoder(bytes.NewReader(line))
		var order []string
		tok, err := d.Token()
		require.NoError(tb, err)
		require.Equal(tb, json.Delim('{'), tok)
		for d.More() {
			k, err := d.Token()
			require.NoError(tb, err)
			order = append(order, k.(string))
			var skip json.RawMessage
			require.NoError(tb, d.Decode(&skip))
		}
		keys = append(keys, order)
	}
	require.NoError(tb, sc.Err())
	require.True(tb, len(data) == 0 || data[len(data)-1] == '\n', "the last line ends with \\n")
	return objects, keys
}

func TestJSONLRoundTrip(t *testing.T) {
	rows, _ := mixedRows("Zoë \u2028 \x01 \"q\" \\ </tag> 😀")
	out, stats := write(t, mixedColumns, Options{Format: JSONL}, rows...)
	require.Equal(t, Stats{Rows: 4, Bytes: int64(len(out))}, stats)
	objects, keys := readJSONL(t, out)
	headers := []string{"id", "name", "price", "active", "born", "seen", "meta", "note"}
	for _, k := range keys {
		require.Equal(t, headers, k)
	}
	n := func(s string) json.Number { return json.Number(s) }
	require.Equal(t, []map[string]any{
		{"id": n("1"), "name": "Zoë \u2028 \x01 \"q\" \\ </tag> 😀", "price": n("1234.50"), "active": true, "born": "2024-05-01",
			"seen": "2024-05-01T07:00:00.5Z", "meta": map[string]any{"a": []any{n("1"), n("2.50")}}, "note": "say \"hi\", then\r\nleave"},
		{"id": n("-12"), "name": "  padded\t", "price": n("-0.001"), "active": false, "born": "1999-12-31",
			"seen": "2024-05-01T07:00:00Z", "meta": []any{n("1"), n("2")}, "note": ""},
		{"id": n("12345678901234567890123"), "name": nil, "price": nil, "active": nil, "born": nil, "seen": nil, "meta": nil, "note": "=SUM(A1)"},
		{"id": n("0"), "name": "007", "price": n("0.10"), "active": nil, "born": "0001-01-01", "seen": "9999-12-31T23:59:59.999999999Z", "meta": n("-1"), "note": "-"},
	}, objects)
	lines := bytes.SplitAfter(out, []byte("\n"))
	require.Equal(t, `{"id":1,"name":"Zoë \u2028 \u0001 \"q\" \\ </tag> 😀","price":1234.50,"active":true,"born":"2024-05-01","seen":"2024-05-01T07:00:00.5Z","meta":{"a":[1,2.50]},"note":"say \"hi\", then\r\nleave"}`+"\n", string(lines[0]))
}

func TestJSONLValues(t *testing.T) {
	cols := []Column{
		{Header: "j", Kind: JSON},
		{Header: "d", Kind: Date, DateFormat: layout(t, "DD/MM/YYYY")},
		{Header: "t", Kind: Timestamp, DateFormat: layout(t, "YYYY-MM-DD HH:mm Z")},
		{Header: "n", Kind: Decimal, DecimalSeparator: ','},
		{Header: "b", Kind: Bool, TrueWord: "yes", FalseWord: "no"},
		{Header: "key \"quoted\"\n", Kind: String},
	}
	tests := []struct {
		name string
		row  []Value
		want string
	}{
		{"json spread over lines", []Value{jsonv("{\n  \"a\": \"x\\ny\",\n  \"b\": 1e3\n}\n"), null, null, null, null, null},
			`{"j":{"a":"x\ny","b":1e3},"d":null,"t":null,"n":null,"b":null,"key \"quoted\"\n":null}`},
		{"invalid json is a string", []Value{jsonv("{not json"), null, null, null, null, null},
			`{"j":"{not json","d":null,"t":null,"n":null,"b":null,"key \"quoted\"\n":null}`},
		{"empty json is a string", []Value{jsonv(""), null, null, null, null, null},
			`{"j":"","d":null,"t":null,"n":null,"b":null,"key \"quoted\"\n":null}`},
		{"formats", []Value{jsonv("true"), date(2024, 5, 1), timestamp(time.Date(2024, 5, 1, 9, 30, 0, 0, time.FixedZone("", 7200))),
			decimal("-1.50"), boolean(false), str("=1+1")},
			`{"j":true,"d":"01/05/2024","t":"2024-05-01 07:30 Z","n":-1.50,"b":false,"key \"quoted\"\n":"=1+1"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _ := write(t, cols, Options{Format: JSONL}, tt.row)
			require.Equal(t, tt.want+"\n", string(out))
			readJSONL(t, out)
		})
	}
}

func TestUnencodableJSONL(t *testing.T) {
	cols := []Column{{Header: "a", Kind: String}, {Header: "b", Kind: JSON}}
	rows := [][]Value{{str("ok"), null}, {str("bad\xffbyte"), jsonv("\"x\xfe\"")}}
	out, stats, err := tryWrite(t, cols, Options{Format: JSONL}, rows...)
	var ue *UnencodableError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, &UnencodableError{Encoding: "utf-8", Rows: []int64{2}, Columns: []string{"a", "b"}, Count: 1, Example: '\uFFFD'}, ue)
	require.Equal(t, `1 row has characters that the encoding utf-8 cannot hold, such as invalid UTF-8; rows 2 in columns "a", "b"`, err.Error())
	require.NotContains(t, string(out), "bad")
	require.Equal(t, int64(1), stats.Rows)

	out, stats = write(t, cols, Options{Format: JSONL, ReplaceUnencodable: true}, rows...)
	require.Equal(t, int64(2), stats.Replaced)
	require.Equal(t, "{\"a\":\"ok\",\"b\":null}\n{\"a\":\"bad\uFFFDbyte\",\"b\":\"x\uFFFD\"}\n", string(out))
}
