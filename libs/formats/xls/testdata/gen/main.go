// Command gen writes the .xls test workbooks of package xls: it builds XLSX
// sources with excelize and has LibreOffice (soffice) convert them to Excel
// 97-2003, so the files are what a real spreadsheet program writes.
//
// Run it from the libs module: go run ./formats/xls/testdata/gen
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
)

// LongLatin and LongWide are the long strings of the Values sheet; the tests
// rebuild them the same way. Each is longer than one BIFF record, so the
// shared string table continues them in CONTINUE records.
var (
	LongLatin = strings.Repeat("abcdefghij", 900)
	LongWide  = strings.Repeat("日本語ë", 1125)
)

func main() {
	out := flag.String("out", "formats/xls/testdata", "folder that receives the .xls files")
	keep := flag.Bool("keep", false, "keep the XLSX sources and print where they are")
	python := flag.String("python", "/usr/bin/python3", "the Python that has LibreOffice's uno module (Debian: python3-uno)")
	flag.Parse()
	if err := run(*out, *keep, *python); err != nil {
		log.Fatal(err)
	}
}

func run(out string, keep bool, python string) error {
	tmp, err := os.MkdirTemp("", "xls-gen-")
	if err != nil {
		return fmt.Errorf("make temp folder: %w", err)
	}
	if keep {
		log.Printf("sources in %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	books := []struct {
		name  string
		build func() (*excelize.File, error)
	}{
		{"values", values},
		{"date1904", date1904},
		{"big", big},
	}
	var sources []string
	for _, b := range books {
		f, err := b.build()
		if err != nil {
			return fmt.Errorf("build %s: %w", b.name, err)
		}
		p := filepath.Join(tmp, b.name+".xlsx")
		if err := f.SaveAs(p); err != nil {
			return fmt.Errorf("save %s: %w", p, err)
		}
		sources = append(sources, p)
	}
	profile := "-env:UserInstallation=file://" + filepath.Join(tmp, "profile")
	args := append([]string{profile, "--headless", "--convert-to", "xls", "--outdir", tmp}, sources...)
	if err := soffice(args...); err != nil {
		return err
	}
	// soffice --convert-to cannot set a password in this LibreOffice, so
	// the encrypted workbook is stored through UNO by a small Python script.
	enc, err := secret()
	if err != nil {
		return fmt.Errorf("build encrypted: %w", err)
	}
	encSrc := filepath.Join(tmp, "encrypted.xlsx")
	if err := enc.SaveAs(encSrc); err != nil {
		return fmt.Errorf("save %s: %w", encSrc, err)
	}
	script := filepath.Join(tmp, "encrypt.py")
	if err := os.WriteFile(script, []byte(encryptScript), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", script, err)
	}
	cmd := exec.Command(python, script, encSrc, filepath.Join(tmp, "encrypted.xls"), filepath.Join(tmp, "uno-profile"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run %s (needs python3-uno): %w", script, err)
	}
	for _, name := range []string{"values", "date1904", "big", "encrypted"} {
		if err := copyFile(filepath.Join(tmp, name+".xls"), filepath.Join(out, name+".xls")); err != nil {
			return err
		}
	}
	return nil
}

func soffice(args ...string) error {
	cmd := exec.Command("soffice", args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run soffice %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("read %s: %w", from, err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", to, err)
	}
	return nil
}

// encryptScript opens an XLSX in a headless LibreOffice and stores it as
// Excel 97-2003 with the password "secret" (RC4 encryption, FILEPASS).
const encryptScript = `import os, subprocess, sys, time, uno
from com.sun.star.beans import PropertyValue

def prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p

src, dst, profile = sys.argv[1], sys.argv[2], sys.argv[3]
pipe = "xlsgen%d" % os.getpid()
office = subprocess.Popen(["soffice", "-env:UserInstallation=file://" + profile, "--headless",
                           "--invisible", "--accept=pipe,name=%s;urp;" % pipe])
ctx = uno.getComponentContext()
resolver = ctx.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", ctx)
for _ in range(200):
    try:
        remote = resolver.resolve("uno:pipe,name=%s;urp;StarOffice.ComponentContext" % pipe)
        break
    except Exception:
        time.sleep(0.3)
else:
    office.kill()
    sys.exit("soffice did not answer")
desktop = remote.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", remote)
doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(os.path.abspath(src)), "_blank", 0, (prop("Hidden", True),))
doc.storeToURL(uno.systemPathToFileUrl(os.path.abspath(dst)),
               (prop("FilterName", "MS Excel 97"), prop("Password", "secret")))
doc.close(True)
try:
    desktop.terminate()
except Exception:
    pass
office.wait(timeout=120)
`

// book collects the first error of a run of excelize calls.
type book struct {
	f   *excelize.File
	err error
}

func (b *book) set(sheet, cell string, v any) {
	if b.err == nil {
		b.err = b.f.SetCellValue(sheet, cell, v)
	}
}

func (b *book) formula(sheet, cell, formula string) {
	if b.err == nil {
		b.err = b.f.SetCellFormula(sheet, cell, formula)
	}
}

func (b *book) style(sheet, cell string, s *excelize.Style) {
	if b.err != nil {
		return
	}
	id, err := b.f.NewStyle(s)
	if err != nil {
		b.err = err
		return
	}
	b.err = b.f.SetCellStyle(sheet, cell, cell, id)
}

func builtin(id int) *excelize.Style { return &excelize.Style{NumFmt: id} }

func custom(code string) *excelize.Style { return &excelize.Style{CustomNumFmt: &code} }

func at(year int, month time.Month, day, hour, min, sec int) time.Time {
	return time.Date(year, month, day, hour, min, sec, 0, time.UTC)
}

// values holds one case per row of the first sheet (label in A, value in
// B), a hidden second sheet and a sparse third one.
func values() (*excelize.File, error) {
	b := &book{f: excelize.NewFile()}
	const s = "Values"
	if b.err = b.f.SetSheetName("Sheet1", s); b.err != nil {
		return nil, b.err
	}
	rows := []struct {
		label string
		value any
		style *excelize.Style
	}{
		{"case", "value", nil},                                  // 1
		{"text zeros", "00123", builtin(49)},                    // 2
		{"16 digits", int64(1234567890123456), nil},             // 3
		{"decimal", 3.14159, nil},                               // 4
		{"tenth", 0.1, nil},                                     // 5
		{"negative", -42, nil},                                  // 6
		{"negative decimal", -0.5, nil},                         // 7
		{"true", true, nil},                                     // 8
		{"false", false, nil},                                   // 9
		{"div0", nil, nil},                                      // 10 formula
		{"na", nil, nil},                                        // 11 formula
		{"formula number", nil, nil},                            // 12 formula
		{"formula string", nil, nil},                            // 13 formula
		{"formula bool", nil, nil},                              // 14 formula
		{"date 14", at(2024, 3, 15, 0, 0, 0), builtin(14)},      // 15
		{"datetime 22", at(2024, 3, 15, 9, 30, 0), builtin(22)}, // 16
		{"time 21", 9.5 / 24, builtin(21)},                      // 17
		{"custom datetime", at(2024, 3, 15, 9, 30, 15), custom("yyyy-mm-dd hh:mm:ss")}, // 18
		{"custom date", at(2024, 12, 31, 0, 0, 0), custom("dd.mm.yyyy")},               // 19
		{"elapsed", 1.5, custom("[h]:mm:ss")},                                          // 20
		{"month", at(2024, 3, 1, 0, 0, 0), custom("mmm yyyy")},                         // 21
		{"formula date", nil, builtin(14)},                                             // 22 formula
		{"latin", "ë", nil},                                                            // 23
		{"japanese", "日本語", nil},                                                       // 24
		{"emoji", "🙂 ok", nil},                                                         // 25
		{"long latin", LongLatin, nil},                                                 // 26
		{"long wide", LongWide, nil},                                                   // 27
		{"percent", 0.15, builtin(10)},                                                 // 28
		{"large", 1e20, nil},                                                           // 29
		{"small", 1.5e-7, nil},                                                         // 30
		{"merged", "top left", nil},                                                    // 31 B31:C32
		{"merged 2", nil, nil},                                                         // 32
		{"quoted days", 12.5, custom(`0.0 "days"`)},                                    // 33
		{"currency", 1234.5, custom(`#,##0.00 [$€-407]`)},                              // 34
		{"spaces", "  spaced  ", nil},                                                  // 35
		{"newline", "line1\nline2", nil},                                               // 36
		{"zero", 0, nil},                                                               // 37
		{"integer", 100, nil},                                                          // 38
		{"time ms", 86399.4 / 86400, custom("hh:mm:ss.000")},                           // 39
		{"negative float", -1234.5678, nil},                                            // 40
	}
	for i, r := range rows {
		row := i + 1
		b.set(s, fmt.Sprintf("A%d", row), r.label)
		if r.value != nil {
			b.set(s, fmt.Sprintf("B%d", row), r.value)
		}
		if r.style != nil {
			b.style(s, fmt.Sprintf("B%d", row), r.style)
		}
	}
	b.formula(s, "B10", "1/0")
	b.formula(s, "B11", "NA()")
	b.formula(s, "B12", "B6*2")
	b.formula(s, "B13", `"ab"&"cd"`)
	b.formula(s, "B14", "B6<0")
	b.formula(s, "B22", "DATE(2024,1,31)+1")
	// A value in a cell that the merge hides: LibreOffice keeps it and
	// writes it out, the reader must not return it.
	b.set(s, "C32", "hidden by merge")
	if b.err == nil {
		b.err = b.f.MergeCell(s, "B31", "C32")
	}

	if _, err := b.f.NewSheet("Hidden"); err != nil {
		return nil, err
	}
	b.set("Hidden", "A1", "secret")
	b.set("Hidden", "B1", 7)
	if b.err == nil {
		b.err = b.f.SetSheetVisible("Hidden", false)
	}

	if _, err := b.f.NewSheet("Sparse"); err != nil {
		return nil, err
	}
	b.set("Sparse", "A1", "first")
	b.set("Sparse", "E5", "five")
	b.set("Sparse", "Z100", 100)
	b.set("Sparse", "IV200", "last column")
	b.set("Sparse", "C65536", "last row")
	return b.f, b.err
}

// secret is the content of the password-protected workbook.
func secret() (*excelize.File, error) {
	f := excelize.NewFile()
	return f, f.SetCellValue("Sheet1", "A1", "secret")
}

// date1904 uses the 1904 date system.
func date1904() (*excelize.File, error) {
	b := &book{f: excelize.NewFile()}
	const s = "Dates"
	if b.err = b.f.SetSheetName("Sheet1", s); b.err != nil {
		return nil, b.err
	}
	yes := true
	if b.err = b.f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &yes}); b.err != nil {
		return nil, b.err
	}
	// excelize converts time.Time with the 1900 system whatever the
	// workbook says, so the serials are written as numbers: 43904 days after
	// 1904-01-01 is 2024-03-15.
	b.set(s, "A1", 43904.0)
	b.style(s, "A1", builtin(14))
	b.set(s, "A2", 43904.0+9.5/24)
	b.style(s, "A2", builtin(22))
	b.set(s, "A3", 0.75)
	b.style(s, "A3", builtin(21))
	b.set(s, "A4", 1.0)
	b.set(s, "A5", 0.0)
	b.style(s, "A5", builtin(14))
	return b.f, b.err
}

// big has 20 000 rows of a number, a distinct string, a decimal and a date.
func big() (*excelize.File, error) {
	f := excelize.NewFile()
	const s = "Big"
	if err := f.SetSheetName("Sheet1", s); err != nil {
		return nil, err
	}
	w, err := f.NewStreamWriter(s)
	if err != nil {
		return nil, err
	}
	dateStyle, err := f.NewStyle(builtin(14))
	if err != nil {
		return nil, err
	}
	base := at(2000, 1, 1, 0, 0, 0)
	for i := 1; i <= 20000; i++ {
		row := []any{
			i,
			fmt.Sprintf("row %d", i),
			float64(i) * 1.5,
			excelize.Cell{StyleID: dateStyle, Value: base.AddDate(0, 0, i%3650)},
		}
		cell, _ := excelize.CoordinatesToCellName(1, i)
		if err := w.SetRow(cell, row); err != nil {
			return nil, err
		}
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return f, nil
}
