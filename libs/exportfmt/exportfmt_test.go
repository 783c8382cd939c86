package exportfmt

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/formats/outfile"
)

func TestRowWireRoundTrip(t *testing.T) {
	rows := [][][]byte{
		{[]byte("a"), nil, []byte(""), []byte("ü,\"x\"\n")},
		{nil, nil, nil, nil},
		{[]byte(strings.Repeat("z", 300)), []byte("1"), []byte("true"), []byte("false")},
	}
	var buf []byte
	for _, r := range rows {
		buf = AppendRow(buf, r)
	}
	var got [][]byte
	var err error
	for _, want := range rows {
		got, buf, err = NextRow(buf, 4, got)
		require.NoError(t, err)
		require.Equal(t, len(want), len(got))
		for i := range want {
			require.Equal(t, want[i] == nil, got[i] == nil, "null of value %d", i)
			require.Equal(t, string(want[i]), string(got[i]))
		}
	}
	require.Empty(t, buf)
	_, _, err = NextRow(AppendRow(nil, rows[0])[:5], 4, nil)
	require.Error(t, err)

	// nextRow, what Format reads with, reads the same values.
	var src string
	for _, r := range rows {
		src += string(AppendRow(nil, r))
	}
	vals, null := make([]string, 4), make([]bool, 4)
	for _, want := range rows {
		src, err = nextRow(src, vals, null)
		require.NoError(t, err)
		for i := range want {
			require.Equal(t, want[i] == nil, null[i], "null of value %d", i)
			require.Equal(t, string(want[i]), vals[i])
		}
	}
	require.Empty(t, src)
	_, err = nextRow(string(AppendRow(nil, rows[0])[:5]), vals, null)
	require.Error(t, err)
	_, err = nextRow("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", vals[:1], null[:1])
	require.Error(t, err, "a length that overflows")
}

func TestParseDateIsTimeParse(t *testing.T) {
	for _, s := range []string{"2024-02-29", "2023-02-29", "2000-02-29", "1900-02-29", "2100-02-28", "0000-02-29", "2024-06-30", "2024-06-31", "2024-04-31", "2024-12-31", "0001-01-01", "0000-01-01", "9999-12-31",
		"2024-00-10", "2024-13-01", "2024-01-00", "2024-1-01", "20240101", "2024-01-01 BC", "10000-01-01", "infinity", "", "２０２４-01-01", "2024-01-0x"} {
		want, werr := time.Parse("2006-01-02", s)
		got, err := parseDate(s)
		require.Equal(t, werr != nil, err != nil, "%q: %v / %v", s, werr, err)
		require.True(t, want.Equal(got), "%q: %v, want %v", s, got, want)
		require.Equal(t, want.Location(), got.Location(), s)
	}
}

func TestCellsWireRoundTrip(t *testing.T) {
	day := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	ts := time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.UTC)
	cells := []outfile.Value{
		{Kind: outfile.Null}, {Kind: outfile.String, Text: "007"}, {Kind: outfile.Integer, Num: "-12"},
		{Kind: outfile.Decimal, Num: "1234.50"}, {Kind: outfile.Bool, Bool: true}, {Kind: outfile.Bool},
		{Kind: outfile.Date, Time: day}, {Kind: outfile.Timestamp, Time: ts}, {Kind: outfile.JSON, Text: `{"a":1}`},
	}
	buf := AppendCells(nil, 41, cells)
	buf = AppendCells(buf, 42, cells[:1])
	row, got, rest, err := NextCells(buf, nil)
	require.NoError(t, err)
	require.Equal(t, int64(41), row)
	require.Equal(t, len(cells), len(got))
	for i := range cells {
		require.Equal(t, cells[i].Kind, got[i].Kind)
		require.Equal(t, cells[i].Text, got[i].Text)
		require.Equal(t, cells[i].Num, got[i].Num)
		require.Equal(t, cells[i].Bool, got[i].Bool)
		require.True(t, cells[i].Time.Equal(got[i].Time), "cell %d: %v != %v", i, cells[i].Time, got[i].Time)
	}
	row, got, rest, err = NextCells(rest, got)
	require.NoError(t, err)
	require.Equal(t, int64(42), row)
	require.Len(t, got, 1)
	require.Empty(t, rest)
	_, _, _, err = NextCells(buf[:len(buf)/2], nil)
	require.Error(t, err)
}

// memObjects is an object store in memory. With slow set, a read takes up
// to a few milliseconds, at random, so that parts read at once arrive out
// of order.
type memObjects struct {
	mu   sync.Mutex
	m    map[string][]byte
	slow *rand.Rand
}

func (o *memObjects) Get(_ context.Context, name string) (io.ReadCloser, error) {
	o.mu.Lock()
	var wait time.Duration
	if o.slow != nil {
		wait = time.Duration(o.slow.IntN(3000)) * time.Microsecond
	}
	o.mu.Unlock()
	time.Sleep(wait)
	o.mu.Lock()
	defer o.mu.Unlock()
	b, ok := o.m[name]
	if !ok {
		return nil, fmt.Errorf("no object %s", name)
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (o *memObjects) Put(_ context.Context, name string, r io.Reader) error {
	b, err := io.ReadAll(r)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m[name] = b
	return err
}

// formatAll formats rows as batches of size per range and returns them as
// delivery would hold them.
func formatAll(t *testing.T, snap *ferryv1.ExportSnapshot, objs *memObjects, ranges [][][][]byte, size int) []*ferryv1.ExportPartReady {
	f, err := NewFormatter(snap, 0, nil)
	require.NoError(t, err)
	var out []*ferryv1.ExportPartReady
	for r, rows := range ranges {
		for seq := 0; seq*size < len(rows); seq++ {
			batch := rows[seq*size : min((seq+1)*size, len(rows))]
			var data []byte
			for _, row := range batch {
				data = AppendRow(data, row)
			}
			parts, err := f.Format(data, int64(len(batch)))
			ready := &ferryv1.ExportPartReady{RunId: snap.GetRunId(), Attempt: "a", Range: int32(r), Seq: int64(seq), RowsRead: int64(len(batch))}
			if re, ok := err.(*RowError); ok {
				ready.Error, ready.ErrorRow = re.Msg, re.Row
			} else {
				require.NoError(t, err)
			}
			for _, p := range parts {
				require.NoError(t, objs.Put(context.Background(), PartObject(snap.GetRunId(), "a", 0, int32(r), int64(seq), int32(p.File)), bytes.NewReader(p.Data)))
				ready.Files = append(ready.Files, &ferryv1.ExportPartFile{File: int32(p.File), Rows: p.Rows, Bytes: int64(len(p.Data)),
					Replaced: p.Replaced, Unencodable: UnencodableRows(p.Unencodable)})
			}
			out = append(out, ready)
		}
	}
	return out
}

func TestAssembleConcatenatesPartsInOrder(t *testing.T) {
	ds := &ferryv1.Dataset{Name: "people", Key: []string{"id"}, Fields: []*ferryv1.Field{
		{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING}, {Name: "name", Type: ferryv1.FieldType_FIELD_TYPE_STRING}}}
	snap := &ferryv1.ExportSnapshot{RunId: "run", Profile: "p", Dataset: ds, Template: &ferryv1.TemplateSpec{}, CreateTime: timestamppb.Now(),
		Spec: &ferryv1.ExportProfileSpec{FileName: "people", Format: ferryv1.ExportFormat_EXPORT_FORMAT_CSV,
			Csv: &ferryv1.ExportCSV{Delimiter: ";", LineEnding: "lf", Encoding: "windows-1252", Bom: false}}}
	var ranges [][][][]byte
	n := 0
	for r := range 3 {
		var rows [][][]byte
		for range 25 + r*10 {
			n++
			name := fmt.Sprintf("=name %d", n)
			if n == 7 || n == 70 {
				name += " ✓"
			}
			rows = append(rows, [][]byte{[]byte(fmt.Sprintf("%03d", n)), []byte(name), []byte("false"), []byte("false")})
		}
		ranges = append(ranges, rows)
	}
	objs := &memObjects{m: map[string][]byte{}}
	batches := formatAll(t, snap, objs, ranges, 10)
	plan, err := NewPlan(snap)
	require.NoError(t, err)
	_, err = Assemble(context.Background(), "run", plan, batches, objs)
	require.EqualError(t, err, `2 rows have characters that the encoding windows-1252 cannot hold, such as "✓" (U+2713); rows 7, 70 in columns "name"; choose an encoding such as utf-8, or allow replacing them`)

	snap.Spec.Unencodable = ferryv1.Unencodable_UNENCODABLE_REPLACE
	// Parts are read several at once and arrive in any order; the file has
	// them in order.
	objs = &memObjects{m: map[string][]byte{}, slow: rand.New(rand.NewPCG(1, 2))}
	batches = formatAll(t, snap, objs, ranges, 10)
	plan, err = NewPlan(snap)
	require.NoError(t, err)
	res, err := Assemble(context.Background(), "run", plan, batches, objs)
	require.NoError(t, err)
	require.Equal(t, int64(2), res.Replaced)
	require.Equal(t, int64(n), res.RowsRead)
	require.Len(t, res.Outputs, 1)
	require.Equal(t, int64(n), res.Outputs[0].GetRows())
	data := objs.m[OutputObject("run", res.Outputs[0].GetName())]
	require.Equal(t, int64(len(data)), res.Outputs[0].GetSize())
	r := csv.NewReader(bytes.NewReader(data))
	r.Comma = ';'
	records, err := r.ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"id", "name"}, records[0])
	require.Len(t, records, n+1)
	for i, rec := range records[1:] {
		require.Equal(t, fmt.Sprintf("%03d", i+1), rec[0])
		require.True(t, strings.HasPrefix(rec[1], "'=name "), "the formula guard: %q", rec[1])
	}
}
