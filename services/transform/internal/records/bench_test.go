package records

import (
	"fmt"
	"strings"
	"testing"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/mapping"
)

// benchChunk is a chunk of a 12-column file and the run snapshot of a
// profile mapping it to 12 fields, 4 of them computed by expressions.
func benchChunk(rows int) *ferryv1.Chunk {
	f := func(name string, t ferryv1.FieldType) *ferryv1.Field { return &ferryv1.Field{Name: name, Type: t} }
	ds := &ferryv1.Dataset{Name: "people", Key: []string{"id"}, Fields: []*ferryv1.Field{
		f("id", ferryv1.FieldType_FIELD_TYPE_STRING), f("name", ferryv1.FieldType_FIELD_TYPE_STRING),
		f("email", ferryv1.FieldType_FIELD_TYPE_STRING), f("born", ferryv1.FieldType_FIELD_TYPE_DATE),
		f("balance", ferryv1.FieldType_FIELD_TYPE_DECIMAL), f("grade", ferryv1.FieldType_FIELD_TYPE_INTEGER),
		f("active", ferryv1.FieldType_FIELD_TYPE_BOOLEAN), f("city", ferryv1.FieldType_FIELD_TYPE_STRING),
		f("zip", ferryv1.FieldType_FIELD_TYPE_STRING), f("phone", ferryv1.FieldType_FIELD_TYPE_STRING),
		f("seen", ferryv1.FieldType_FIELD_TYPE_TIMESTAMP), f("notes", ferryv1.FieldType_FIELD_TYPE_STRING),
	}}
	header := []string{"ID", "First", "Last", "E-mail", "DOB", "Balance", "Grade", "Active", "City", "Zip", "Phone", "Seen", "Notes"}
	col := func(field, column string) *ferryv1.FieldMapping {
		return &ferryv1.FieldMapping{Field: field, Column: column}
	}
	spec := &ferryv1.ImportProfileSpec{Dataset: "people", Mappings: []*ferryv1.FieldMapping{
		col("id", "ID"),
		{Field: "name", Expr: `concat(trim(row.First), " ", upper(trim(row.Last)))`},
		{Field: "email", Column: "E-mail", Expr: `lower(trim(value))`},
		{Field: "born", Column: "DOB", Expr: `parse_date(value, "DD/MM/YYYY")`},
		{Field: "balance", Column: "Balance", Expr: `parse_number(value, ",", ".")`},
		col("grade", "Grade"), col("active", "Active"), col("city", "City"), col("zip", "Zip"),
		col("phone", "Phone"), col("seen", "Seen"), col("notes", "Notes"),
	}}
	var data strings.Builder
	for i := range rows {
		fmt.Fprintf(&data, "%07d, Ann ,Lee,Ann.Lee%d@Example.org,%02d/%02d/2011,\"1.234,%02d\",%d,%v,Köln,%05d,+49 221 %07d,2024-05-01T09:%02d:00Z,\"say \"\"hi\"\", %d\"\n",
			i, i, i%28+1, i%12+1, i%100, i%13, i%2 == 0, i%100000, i, i%60, i)
	}
	return &ferryv1.Chunk{
		Run:    &ferryv1.RunSnapshot{RunId: "bench", Spec: spec, Dataset: ds},
		Header: header, Seq: 1, FirstRow: 2, Rows: int64(rows), Data: []byte(data.String()), Encoding: "utf-8",
	}
}

// BenchmarkTransform maps chunks of a 12-field profile with 4 computed
// fields on one goroutine, and reports rows per second (per core).
func BenchmarkTransform(b *testing.B) {
	const rows = 5000
	c := benchChunk(rows)
	plan, err := mapping.Resolve(c.GetRun().GetSpec(), c.GetRun().GetDataset(), c.GetHeader(), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(c.GetData())))
	b.ResetTimer()
	for range b.N {
		batch, err := Build(c, plan)
		if err != nil {
			b.Fatal(err)
		}
		if len(batch.GetRejects()) > 0 {
			b.Fatalf("rejects: %v", batch.GetRejects()[0])
		}
	}
	b.ReportMetric(float64(b.N*rows)/b.Elapsed().Seconds(), "rows/s")
}
