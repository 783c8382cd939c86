// Command gen writes the input file of every case of the import corpus
// (services/ferry/testdata/corpus/NN-name/input.*), byte for byte, and checks
// that every case.yaml and expected.json of the corpus parses.
//
// Run it from services/ferry (it builds in the repository's Go workspace,
// which provides golang.org/x/text and github.com/xuri/excelize/v2 through
// libs, and sigs.k8s.io/yaml through services/ferry):
//
//	go run ./testdata/corpus/gen            # write every input file, then check
//	go run ./testdata/corpus/gen -check     # only check case.yaml / expected.json
//
// Text files are encoded with golang.org/x/text (or by hand where the bytes
// matter, such as UTF-16 with a lone surrogate); workbooks are written with
// excelize, and cells whose exact XML matters (cached formula values, error
// cells, exponent notation, inline strings) are patched into the sheet XML.
// .xls files are .xlsx workbooks converted by LibreOffice (soffice
// --headless --convert-to xls); without soffice on the PATH the existing
// .xls files are left as they are. The encrypted workbook is encrypted with a
// random salt, so an existing one that still opens with its password and
// holds the expected cells is kept, and everything else is byte-identical on
// every run.
//
// case.yaml and expected.json are written by hand, never by this program.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// inputCase is one case's input file.
type inputCase struct {
	dir  string // "NN-short-name"
	file string // "input.csv", "input.xlsx", ...
	// gen returns the file's bytes; for an .xls file, the bytes of the
	// .xlsx workbook that LibreOffice converts.
	gen func() ([]byte, error)
	// keep, when set, reports whether an existing file may stay as it is.
	keep func(path string) bool
	// soffice says gen returns an .xlsx that LibreOffice converts to .xls.
	soffice bool
}

func main() {
	dir := flag.String("dir", "testdata/corpus", "the corpus directory")
	checkOnly := flag.Bool("check", false, "only check every case.yaml and expected.json")
	flag.Parse()
	if !*checkOnly {
		if err := writeAll(*dir); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
	}
	if err := checkAll(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "gen: check:", err)
		os.Exit(1)
	}
}

func allCases() []inputCase {
	var cs []inputCase
	cs = append(cs, csvCases()...)
	cs = append(cs, xlsxCases()...)
	cs = append(cs, xlsCases()...)
	cs = append(cs, hostileCases()...)
	sort.Slice(cs, func(i, j int) bool { return cs[i].dir < cs[j].dir })
	return cs
}

func writeAll(root string) error {
	soffice, _ := exec.LookPath("soffice")
	seen := map[string]bool{}
	for _, c := range allCases() {
		if seen[c.dir] {
			return fmt.Errorf("case %s is defined twice", c.dir)
		}
		seen[c.dir] = true
		dir := filepath.Join(root, c.dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		path := filepath.Join(dir, c.file)
		if c.keep != nil && c.keep(path) {
			fmt.Printf("%-48s kept\n", filepath.Join(c.dir, c.file))
			continue
		}
		data, err := c.gen()
		if err != nil {
			return fmt.Errorf("%s: %w", c.dir, err)
		}
		if c.soffice {
			if soffice == "" {
				fmt.Printf("%-48s skipped: soffice not found, existing file kept\n", filepath.Join(c.dir, c.file))
				continue
			}
			if data, err = convertToXLS(soffice, data); err != nil {
				return fmt.Errorf("%s: %w", c.dir, err)
			}
		}
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
			fmt.Printf("%-48s unchanged (%d bytes)\n", filepath.Join(c.dir, c.file), len(data))
			continue
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return err
		}
		fmt.Printf("%-48s written (%d bytes)\n", filepath.Join(c.dir, c.file), len(data))
	}
	return nil
}

// convertToXLS converts an .xlsx workbook to Excel 97-2003 with LibreOffice,
// in a private profile so that a running LibreOffice is not disturbed.
func convertToXLS(soffice string, xlsx []byte) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "ferry-corpus-xls-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "input.xlsx")
	if err := os.WriteFile(src, xlsx, 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(tmp, "out")
	cmd := exec.Command(soffice, "-env:UserInstallation=file://"+filepath.Join(tmp, "profile"),
		"--headless", "--convert-to", "xls", "--outdir", out, src)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("soffice: %v: %s", err, b)
	}
	data, err := os.ReadFile(filepath.Join(out, "input.xls"))
	if err != nil {
		return nil, fmt.Errorf("soffice wrote no .xls: %w", err)
	}
	return data, nil
}
