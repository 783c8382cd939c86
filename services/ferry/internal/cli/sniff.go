package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// Sample sizes sent to Sniff: the start of a text file, a workbook whole.
const (
	textSample     = 64 << 10
	workbookSample = 8 << 20
)

func setupSniff(fs *flag.FlagSet) action {
	rows := fs.Int("rows", 10, "data rows to show (at most 100)")
	format := fs.String("format", "", "read as csv, xlsx or xls instead of what is sniffed")
	encoding := fs.String("encoding", "", "read with this encoding instead of what is sniffed")
	delimiter := fs.String("delimiter", "", "read with this delimiter instead of what is sniffed")
	sheet := fs.String("sheet", "", "read this sheet of a workbook")
	output := fs.String("o", "table", "output: table, or yaml for an ImportProfile document to edit and apply")
	return func(ctx context.Context, s *session, args []string) error {
		path := args[0]
		if *output != "table" && *output != "yaml" {
			return usageErrorf("sniff", "-o %q: want table or yaml", *output)
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("sniff %s: %w", path, err)
		}
		defer f.Close()
		head := make([]byte, workbookSample+1)
		n, err := io.ReadFull(f, head)
		if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
			return fmt.Errorf("sniff %s: %w", path, err)
		}
		head = head[:n]
		workbook := bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte{0xD0, 0xCF, 0x11, 0xE0}) || *format == "xlsx" || *format == "xls"
		if workbook && n > workbookSample {
			return fmt.Errorf("sniff %s: workbooks are sniffed whole, and this one is larger than %d MiB", path, workbookSample>>20)
		}
		if !workbook && n > textSample {
			head = head[:textSample]
		}
		req := &ferryv1.SniffRequest{FileName: filepath.Base(path), Sample: head, Rows: int32(*rows), Spec: &ferryv1.ImportProfileSpec{}}
		if *format != "" {
			v, ok := parseEnum(ferryv1.FileFormat_value, "FILE_FORMAT_", *format)
			if !ok {
				return usageErrorf("sniff", "--format %q: want csv, xlsx or xls", *format)
			}
			req.Spec.Format = ferryv1.FileFormat(v)
		}
		if *encoding != "" || *delimiter != "" {
			req.Spec.Csv = &ferryv1.CSVFormat{Encoding: *encoding, Delimiter: *delimiter}
		}
		if *sheet != "" {
			req.Spec.Spreadsheet = &ferryv1.SpreadsheetFormat{Sheet: *sheet}
		}
		c, err := s.clients()
		if err != nil {
			return err
		}
		res, err := c.ingest.Sniff(ctx, req)
		if err != nil {
			return fmt.Errorf("sniff %s: %w", path, err)
		}
		if *output == "yaml" {
			return printSniffYAML(s.stdout, path, res)
		}
		printSniff(s.stdout, res)
		return nil
	}
}

func printSniff(w io.Writer, res *ferryv1.SniffResponse) {
	p := res.GetProposed()
	fmt.Fprintf(w, "format:    %s\n", strings.ToLower(strings.TrimPrefix(p.GetFormat().String(), "FILE_FORMAT_")))
	if c := p.GetCsv(); c != nil {
		fmt.Fprintf(w, "encoding:  %s\n", c.GetEncoding())
		fmt.Fprintf(w, "delimiter: %q   quote: %q   escape: %s", c.GetDelimiter(), c.GetQuote(), strings.ToLower(strings.TrimPrefix(c.GetEscape().String(), "CSV_ESCAPE_")))
		if c.GetComment() != "" {
			fmt.Fprintf(w, "   comment: %q", c.GetComment())
		}
		fmt.Fprintln(w)
		if c.GetNoHeader() {
			fmt.Fprintln(w, "header:    none (columns by position)")
		} else {
			fmt.Fprintf(w, "header:    row %d\n", c.GetHeaderRow())
		}
	}
	if sp := p.GetSpreadsheet(); sp != nil {
		for _, sh := range res.GetSheets() {
			mark := ""
			if sh.GetHidden() {
				mark = " (hidden)"
			}
			fmt.Fprintf(w, "sheet %d:   %q%s\n", sh.GetIndex(), sh.GetName(), mark)
		}
		fmt.Fprintf(w, "reading:   sheet %q index %d, header row %d\n", sp.GetSheet(), sp.GetSheetIndex(), sp.GetHeaderRow())
	}
	for _, r := range res.GetReasons() {
		fmt.Fprintf(w, "  - %s\n", r)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprint(tw, "ROW")
	for _, h := range res.GetHeader() {
		fmt.Fprintf(tw, "\t%s", oneLine(h))
	}
	fmt.Fprintln(tw)
	for _, r := range res.GetRows() {
		fmt.Fprintf(tw, "%d", r.GetRow())
		if r.GetError() != "" {
			fmt.Fprintf(tw, "\t(%s)", r.GetError())
		}
		for _, c := range r.GetCells() {
			fmt.Fprintf(tw, "\t%s", oneLine(c))
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()
}

// oneLine shows a value on one table line.
func oneLine(s string) string {
	s = strings.NewReplacer("\r\n", `\n`, "\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
	if s == "" {
		return "·"
	}
	if r := []rune(s); len(r) > 40 {
		return string(r[:39]) + "…"
	}
	return s
}

var nonFieldRE = regexp.MustCompile(`[^a-z0-9]+`)

// columnField turns a column header into a dataset field name.
func columnField(h string, i int) string {
	f := strings.Trim(nonFieldRE.ReplaceAllString(strings.ToLower(h), "_"), "_")
	if f == "" || f[0] < 'a' || f[0] > 'z' {
		f = fmt.Sprintf("column_%d", i+1)
	}
	return f
}

// printSniffYAML prints an ImportProfile document with a mapping per column.
func printSniffYAML(w io.Writer, path string, res *ferryv1.SniffResponse) error {
	spec := &ferryv1.ImportProfileSpec{Format: res.GetProposed().GetFormat(), Csv: res.GetProposed().GetCsv(),
		Spreadsheet: res.GetProposed().GetSpreadsheet(), Dataset: "CHANGE-ME"}
	noHeader := spec.GetCsv().GetNoHeader() || spec.GetSpreadsheet().GetNoHeader()
	seen := map[string]bool{}
	for i, h := range res.GetHeader() {
		name := columnField(h, i)
		for seen[name] {
			name += "_"
		}
		seen[name] = true
		m := &ferryv1.FieldMapping{Field: name, Column: h}
		if noHeader {
			m = &ferryv1.FieldMapping{Field: fmt.Sprintf("column_%d", i+1), ColumnIndex: int32(i + 1)}
		}
		spec.Mappings = append(spec.Mappings, m)
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	doc := profileResource(&ferryv1.ImportProfile{Name: columnField(base, 0), Spec: spec})
	out, err := yaml.Marshal(doc)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "# Proposed by ferry sniff %s: set the dataset, check the mappings, then ferry apply -f.\n", filepath.Base(path))
	_, err = w.Write(out)
	return err
}
