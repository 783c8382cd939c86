package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"
)

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)}
	t.row(header...)
	return t
}

// row writes one row. Cells with tabs, line breaks or other control
// characters are quoted so that they cannot break the columns.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			c = "-"
		} else if strings.ContainsFunc(c, unicode.IsControl) {
			c = strconv.Quote(c)
		}
		cells[i] = c
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// formatTime prints a timestamp in UTC, or "-" when it is not set.
func formatTime(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// printJSON prints a message in the API's JSON form, indented.
func (s *session) printJSON(m proto.Message) error {
	b, err := protojson.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	// protojson varies its whitespace on purpose; json.Indent makes the
	// output the same on every run.
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	out.WriteByte('\n')
	_, err = out.WriteTo(s.stdout)
	return err
}

// printYAML prints values as YAML documents separated by "---". Messages
// are printed in their JSON form; other values as their json tags say.
func (s *session) printYAML(values ...any) error {
	for i, v := range values {
		var (
			b   []byte
			err error
		)
		if m, ok := v.(proto.Message); ok {
			var j []byte
			if j, err = protojson.Marshal(m); err == nil {
				b, err = yaml.JSONToYAML(j)
			}
		} else {
			b, err = yaml.Marshal(v)
		}
		if err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
		if i > 0 {
			fmt.Fprintln(s.stdout, "---")
		}
		if _, err := s.stdout.Write(b); err != nil {
			return err
		}
	}
	return nil
}
