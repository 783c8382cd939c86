package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"sigs.k8s.io/yaml"
)

// caseFile is case.yaml.
type caseFile struct {
	Description string `json:"description"`
	Dataset     struct {
		Fields []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Required bool   `json:"required,omitempty"`
		} `json:"fields"`
		Key []string `json:"key"`
	} `json:"dataset"`
	Profile struct {
		Format string `json:"format"`
		CSV    *struct {
			Delimiter         string `json:"delimiter,omitempty"`
			Quote             string `json:"quote,omitempty"`
			Escape            string `json:"escape,omitempty"`
			HeaderRow         int    `json:"headerRow,omitempty"`
			NoHeader          bool   `json:"noHeader,omitempty"`
			Comment           string `json:"comment,omitempty"`
			TrailingDelimiter bool   `json:"trailingDelimiter,omitempty"`
			Encoding          string `json:"encoding,omitempty"`
			InvalidBytes      string `json:"invalidBytes,omitempty"`
		} `json:"csv,omitempty"`
		Spreadsheet *struct {
			Sheet      string `json:"sheet,omitempty"`
			SheetIndex int    `json:"sheetIndex,omitempty"`
			HeaderRow  int    `json:"headerRow,omitempty"`
			NoHeader   bool   `json:"noHeader,omitempty"`
		} `json:"spreadsheet,omitempty"`
		Mappings []struct {
			Field       string `json:"field"`
			Column      string `json:"column,omitempty"`
			ColumnIndex int    `json:"columnIndex,omitempty"`
		} `json:"mappings,omitempty"`
	} `json:"profile"`
}

// expectedFile is expected.json.
type expectedFile struct {
	Status  string               `json:"status"`
	Error   string               `json:"error,omitempty"`
	Counts  map[string]int64     `json:"counts,omitempty"`
	Rows    []map[string]*string `json:"rows"`
	Rejects []struct {
		Row    int64   `json:"row"`
		Column *string `json:"column"`
		Reason string  `json:"reason"`
	} `json:"rejects,omitempty"`
}

var (
	caseDirRE = regexp.MustCompile(`^[0-9]{2}-[a-z0-9]+(-[a-z0-9]+)*$`)
	fieldRE   = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	types     = map[string]bool{"string": true, "integer": true, "decimal": true, "boolean": true, "date": true, "timestamp": true, "json": true}
	counts    = map[string]bool{"read": true, "inserted": true, "updated": true, "unchanged": true, "rejected": true, "superseded": true}
)

// checkAll parses every case.yaml and expected.json strictly and checks
// that they agree with each other.
func checkAll(root string) error {
	ents, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	var problems []string
	n := 0
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "gen" {
			continue
		}
		n++
		want := fmt.Sprintf("%02d-", n)
		if !strings.HasPrefix(e.Name(), want) || !caseDirRE.MatchString(e.Name()) {
			problems = append(problems, fmt.Sprintf("%s: expected a folder named %sshort-name", e.Name(), want))
		}
		for _, p := range checkCase(filepath.Join(root, e.Name())) {
			problems = append(problems, e.Name()+": "+p)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d problems:\n  %s", len(problems), strings.Join(problems, "\n  "))
	}
	fmt.Printf("check: %d cases, every case.yaml and expected.json is valid\n", n)
	return nil
}

func checkCase(dir string) (problems []string) {
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	inputs, _ := filepath.Glob(filepath.Join(dir, "input.*"))
	if len(inputs) != 1 {
		bad("want exactly one input.* file, have %d", len(inputs))
	} else if ext := filepath.Ext(inputs[0]); !map[string]bool{".csv": true, ".tsv": true, ".txt": true, ".xlsx": true, ".xls": true}[ext] {
		bad("input extension %s", ext)
	}
	y, err := os.ReadFile(filepath.Join(dir, "case.yaml"))
	if err != nil {
		bad("%v", err)
		return
	}
	var c caseFile
	if err := yaml.UnmarshalStrict(y, &c); err != nil {
		bad("case.yaml: %v", err)
		return
	}
	j, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		bad("%v", err)
		return
	}
	var x expectedFile
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x); err != nil {
		bad("expected.json: %v", err)
		return
	}
	if dec.More() {
		bad("expected.json: more than one JSON value")
	}

	// case.yaml
	if c.Description == "" || strings.Contains(strings.TrimSpace(c.Description), "\n") {
		bad("description: want one sentence on one line")
	}
	fields := map[string]bool{}
	for _, f := range c.Dataset.Fields {
		if !fieldRE.MatchString(f.Name) || !types[f.Type] || fields[f.Name] {
			bad("dataset field %q of type %q", f.Name, f.Type)
		}
		fields[f.Name] = true
	}
	if len(c.Dataset.Key) == 0 {
		bad("dataset: no key")
	}
	for _, k := range c.Dataset.Key {
		if !fields[k] {
			bad("key %q is not a field", k)
		}
	}
	switch c.Profile.Format {
	case "csv":
		if c.Profile.Spreadsheet != nil {
			bad("a csv profile with spreadsheet options")
		}
	case "xlsx", "xls":
		if c.Profile.CSV != nil {
			bad("a workbook profile with csv options")
		}
	default:
		bad("profile format %q", c.Profile.Format)
	}
	if cs := c.Profile.CSV; cs != nil {
		if cs.Escape != "" && cs.Escape != "doubled" && cs.Escape != "backslash" {
			bad("escape %q", cs.Escape)
		}
		if cs.InvalidBytes != "" && cs.InvalidBytes != "reject_row" && cs.InvalidBytes != "fail_file" {
			bad("invalidBytes %q", cs.InvalidBytes)
		}
		switch cs.Encoding {
		case "", "utf-8", "utf-16le", "utf-16be", "windows-1252", "iso-8859-1", "iso-8859-15", "shift_jis", "gbk":
		default:
			bad("encoding %q", cs.Encoding)
		}
		for _, s := range []string{cs.Delimiter, cs.Quote, cs.Comment} {
			if len(s) > 1 {
				bad("%q is not one single-byte character", s)
			}
		}
	}
	mapped := map[string]bool{}
	for _, m := range c.Profile.Mappings {
		if !fields[m.Field] || mapped[m.Field] || (m.Column == "") == (m.ColumnIndex == 0) {
			bad("mapping %+v", m)
		}
		mapped[m.Field] = true
	}
	if len(c.Profile.Mappings) > 0 {
		for _, k := range c.Dataset.Key {
			if !mapped[k] {
				bad("key field %q is not mapped", k)
			}
		}
	}

	// expected.json
	switch x.Status {
	case "succeeded", "succeeded_with_errors":
		if x.Error != "" {
			bad("error given for status %s", x.Status)
		}
		if (len(x.Rejects) > 0) != (x.Status == "succeeded_with_errors") && x.Rejects != nil {
			bad("status %s with %d rejects", x.Status, len(x.Rejects))
		}
	case "failed":
		if x.Error == "" {
			bad("failed without an error substring")
		}
		if len(x.Rows) > 0 {
			bad("a failed run applies nothing, yet rows are expected")
		}
	default:
		bad("status %q", x.Status)
	}
	if x.Rows == nil {
		bad("rows missing (want [] for none)")
	}
	keys := map[string]bool{}
	for i, r := range x.Rows {
		for k := range r {
			if !fields[k] {
				bad("row %d: %q is not a field", i, k)
			}
		}
		for f := range fields {
			if _, ok := r[f]; !ok {
				bad("row %d: field %q missing (use null)", i, f)
			}
		}
		var kv []string
		for _, k := range c.Dataset.Key {
			if r[k] == nil {
				bad("row %d: key field %q is null", i, k)
				continue
			}
			kv = append(kv, *r[k])
		}
		key := strings.Join(kv, "\x00")
		if keys[key] {
			bad("row %d: key %q twice", i, kv)
		}
		keys[key] = true
	}
	for k := range x.Counts {
		if !counts[k] {
			bad("count %q", k)
		}
	}
	if ins, ok := x.Counts["inserted"]; ok && ins != int64(len(x.Rows)) {
		bad("inserted %d but %d rows (every run starts with an empty dataset)", ins, len(x.Rows))
	}
	if rej, ok := x.Counts["rejected"]; ok && x.Rejects != nil && rej != int64(len(x.Rejects)) {
		bad("rejected %d but %d rejects", rej, len(x.Rejects))
	}
	if read, ok := x.Counts["read"]; ok {
		sum := x.Counts["inserted"] + x.Counts["updated"] + x.Counts["unchanged"] + x.Counts["superseded"] + x.Counts["rejected"]
		if _, all := x.Counts["inserted"]; all && sum != read {
			bad("read %d but inserted+updated+unchanged+superseded+rejected = %d", read, sum)
		}
	}
	prev := int64(0)
	for _, r := range x.Rejects {
		if r.Row <= prev {
			bad("rejects: want increasing row numbers, row %d after %d", r.Row, prev)
		}
		prev = r.Row
		if r.Column == nil || r.Reason == "" {
			bad("reject of row %d: column and reason are required", r.Row)
		}
	}
	return problems
}
