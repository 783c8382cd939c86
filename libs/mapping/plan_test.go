package mapping

import (
	"bytes"
	"encoding/csv"
	"testing"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func dataset() *ferryv1.Dataset {
	return &ferryv1.Dataset{
		Name: "users",
		Fields: []*ferryv1.Field{
			{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING},
			{Name: "name", Type: ferryv1.FieldType_FIELD_TYPE_STRING, Required: true},
			{Name: "age", Type: ferryv1.FieldType_FIELD_TYPE_INTEGER},
			{Name: "balance", Type: ferryv1.FieldType_FIELD_TYPE_DECIMAL},
			{Name: "active", Type: ferryv1.FieldType_FIELD_TYPE_BOOLEAN},
			{Name: "born", Type: ferryv1.FieldType_FIELD_TYPE_DATE},
			{Name: "seen", Type: ferryv1.FieldType_FIELD_TYPE_TIMESTAMP},
			{Name: "extra", Type: ferryv1.FieldType_FIELD_TYPE_JSON},
		},
		Key: []string{"id"},
	}
}

var header = []string{"ID", "Name", "Age", "Balance", "Active", "Born", "Seen", "Extra"}

func spec() *ferryv1.ImportProfileSpec {
	s := &ferryv1.ImportProfileSpec{Dataset: "users"}
	for i, f := range []string{"id", "name", "age", "balance", "active", "born", "seen", "extra"} {
		s.Mappings = append(s.Mappings, &ferryv1.FieldMapping{Field: f, Column: header[i]})
	}
	return s
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ferryv1.ImportProfileSpec)
		header []string
		want   string
	}{
		{"missing column", nil, []string{"ID", "Name"}, `column "Age" for field "age" is not in the file's header`},
		{"duplicate column", nil, append(append([]string{}, header...), "Age"), `column "Age" for field "age" appears 2 times in the header (columns 3, 9)`},
		{"unknown field", func(s *ferryv1.ImportProfileSpec) { s.Mappings[2].Field = "agee" }, header, `mapping names field "agee"`},
		{"key not mapped", func(s *ferryv1.ImportProfileSpec) { s.Mappings = s.Mappings[1:] }, header, `key field "id" is not mapped`},
		{"required not mapped", func(s *ferryv1.ImportProfileSpec) { s.Mappings = append(s.Mappings[:1], s.Mappings[2:]...) }, header, `required field "name" is not mapped`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := spec()
			if tt.mutate != nil {
				tt.mutate(s)
			}
			_, err := Resolve(s, dataset(), tt.header, nil)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestResolveImplicit(t *testing.T) {
	p, err := Resolve(&ferryv1.ImportProfileSpec{Dataset: "users"}, dataset(), []string{"name", "id", "unused"}, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"id", "name", RowColumn}, p.Columns())
	require.Equal(t, []string{"id"}, p.KeyFields())
}

func TestRow(t *testing.T) {
	p, err := Resolve(spec(), dataset(), header, nil)
	require.NoError(t, err)
	tests := []struct {
		name   string
		record []string
		want   []string // COPY fields; "NULL" marks an unquoted empty field
		reject string
		column string
	}{
		{"all types", []string{"007", `Ann "A" Ö`, "+42", "-1234.50", "Yes", "2024-02-29", "2024-05-01T09:00:00+02:00", `{"a":1}`},
			[]string{"007", `Ann "A" Ö`, "42", "-1234.50", "true", "2024-02-29", "2024-05-01T07:00:00Z", `{"a":1}`, "5"}, "", ""},
		{"empties are null", []string{"1", "Bo", "", "", "", "", "", ""},
			[]string{"1", "Bo", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "5"}, "", ""},
		{"field count", []string{"1", "Bo"}, nil, "row has 2 fields, the header has 8", ""},
		{"empty key", []string{"", "Bo", "", "", "", "", "", ""}, nil, `key field "id" is empty`, "ID"},
		{"empty required", []string{"1", "", "", "", "", "", "", ""}, nil, `required field "name" is empty`, "Name"},
		{"bad integer", []string{"1", "Bo", "4.0", "", "", "", "", ""}, nil, "not an integer", "Age"},
		{"integer range", []string{"1", "Bo", "99999999999999999999", "", "", "", "", ""}, nil, "integer out of range", "Age"},
		{"thousands separator", []string{"1", "Bo", "", "1,234.00", "", "", "", ""}, nil, "not a decimal number", "Balance"},
		{"bad boolean", []string{"1", "Bo", "", "", "maybe", "", "", ""}, nil, "not a boolean", "Active"},
		{"ambiguous date", []string{"1", "Bo", "", "", "", "03/04/2024", "", ""}, nil, "ambiguous", "Born"},
		{"impossible date", []string{"1", "Bo", "", "", "", "2023-02-29", "", ""}, nil, "2023-02-29", "Born"},
		{"timestamp without offset", []string{"1", "Bo", "", "", "", "", "2024-05-01 09:00:00", ""}, nil, "time zone", "Seen"},
		{"bad json", []string{"1", "Bo", "", "", "", "", "", "{"}, nil, "not valid JSON", "Extra"},
		{"invalid utf8", []string{"1", "B\xff", "", "", "", "", "", ""}, nil, "not valid UTF-8", "Name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			out.WriteString("prefix\n")
			res := p.Row(5, tt.record, &out)
			rej := res.Reject
			if tt.reject != "" {
				require.NotNil(t, rej)
				require.Contains(t, rej.Reason, tt.reject)
				require.Equal(t, tt.column, rej.Column)
				require.EqualValues(t, 5, rej.Row)
				require.Equal(t, "prefix\n", out.String(), "a rejected row writes nothing")
				return
			}
			require.Nil(t, rej)
			line := bytes.TrimPrefix(out.Bytes(), []byte("prefix\n"))
			r := csv.NewReader(bytes.NewReader(line))
			fields, err := r.Read()
			require.NoError(t, err)
			for i, w := range tt.want {
				if w == "NULL" {
					require.Equal(t, "", fields[i])
					require.NotContains(t, string(line), `""`+",")
				} else {
					require.Equal(t, w, fields[i])
				}
			}
		})
	}
}
