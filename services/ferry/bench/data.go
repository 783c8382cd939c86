package main

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"

	"github.com/ferrydata/ferry/libs/formats/outfile"
)

// header is the generated file's header: 12 columns.
var header = []string{"ID", "First", "Last", "Email", "DOB", "Balance", "Grade", "Active", "City", "Zip", "Joined", "Notes"}

var (
	firstNames = []string{" Ann ", "Zoë", "José", "Chloé", "Björn", "Siobhán", "Mohammed", "Ngọc", "Łucja", "Ève", "Kai", "D'Arcy"}
	lastNames  = []string{"O'Brien", "Müller", `"Rocky" Balboa`, "Smith, Jr.", "Nguyễn", "Żółkiewski", "García Márquez", "Ó Súilleabháin", "Lee", "Dvořák"}
	cities     = []string{"Köln", "São Paulo", "Zürich", "Reykjavík", "Kraków", "Montréal", "Ålesund", "Malmö", "Besançon", "Łódź"}
	notes      = []string{`said "hi", twice`, "allergic to nuts; see file", "prefers email", "moved from Ørsted, DK", "transfer 🚌 route 7"}
)

// seed makes every generated file the same on every machine.
const seed = 20240501

// row returns data row i (0-based) of the base file (changed false) or of
// the changed file, in which every even row has another balance and grade.
func row(i int, changed bool) []string {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	first := firstNames[r.IntN(len(firstNames))]
	last := lastNames[r.IntN(len(lastNames))]
	cents := r.IntN(2_000_000) - 500_000
	grade := 1 + r.IntN(12)
	if changed && i%2 == 0 {
		cents += 1001
		grade = grade%12 + 1
	}
	note := ""
	if r.IntN(3) > 0 { // a third of the rows have no note: the nullable column
		note = fmt.Sprintf("%s (#%d)", notes[r.IntN(len(notes))], r.IntN(100000))
	}
	return []string{
		fmt.Sprintf("%09d", i+1),
		first,
		last,
		fmt.Sprintf("%s.%s%d@Example-Mail.org", asciiName(first), "user", i+1),
		fmt.Sprintf("%02d/%02d/%04d", 1+r.IntN(28), 1+r.IntN(12), 1950+r.IntN(60)),
		decimal(cents),
		strconv.Itoa(grade),
		strconv.FormatBool(r.IntN(2) == 0),
		cities[r.IntN(len(cities))],
		fmt.Sprintf("%05d", r.IntN(100000)),
		fmt.Sprintf("%04d-%02d-%02d", 2000+r.IntN(25), 1+r.IntN(12), 1+r.IntN(28)),
		note,
	}
}

// asciiName is a name's letters that an e-mail address may hold.
func asciiName(s string) string {
	b := make([]byte, 0, len(s))
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "X"
	}
	return string(b)
}

func decimal(cents int) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100)
}

// writeCSV writes n rows to path and returns the file's size.
func writeCSV(path string, n int, changed bool) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	if err := w.Write(header); err != nil {
		f.Close()
		return 0, err
	}
	for i := range n {
		if err := w.Write(row(i, changed)); err != nil {
			f.Close()
			return 0, err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return 0, err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return fileSize(path)
}

// writeXLSX writes n rows of the base file as a workbook with the repo's
// own writer (every cell a string cell, so leading zeros stay).
func writeXLSX(path string, n int) (int64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = func() error {
		w, err := outfile.NewTextSheet(bw, "People", 1)
		if err != nil {
			return err
		}
		if err := w.WriteRow(header); err != nil {
			return err
		}
		for i := range n {
			if err := w.WriteRow(row(i, false)); err != nil {
				return err
			}
		}
		if err := w.Close(); err != nil {
			return err
		}
		return bw.Flush()
	}()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return fileSize(path)
}

func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// dataFiles are the generated files of one size.
type dataFiles struct {
	rows                 int
	base, changed, xlsx  string
	baseSize, changeSize int64
	xlsxRows             int
	xlsxSize             int64
}

// generate writes (or, when they exist with the right marker, reuses) the
// files of n rows in dir. xlsxRows is 0 when no workbook is wanted.
func generate(dir string, n, xlsxRows int, logf func(string, ...any)) (*dataFiles, error) {
	d := &dataFiles{rows: n, xlsxRows: xlsxRows,
		base:    fmt.Sprintf("%s/people-%d.csv", dir, n),
		changed: fmt.Sprintf("%s/people-%d-changed.csv", dir, n),
		xlsx:    fmt.Sprintf("%s/people-%d.xlsx", dir, xlsxRows)}
	var err error
	reuse := func(path string) (int64, bool) {
		if _, err := os.Stat(path + ".done"); err != nil {
			return 0, false
		}
		sz, err := fileSize(path)
		return sz, err == nil
	}
	done := func(path string) error { return os.WriteFile(path+".done", nil, 0o644) }
	gen := func(path string, size *int64, what string, write func() (int64, error)) error {
		if sz, ok := reuse(path); ok {
			*size = sz
			return nil
		}
		logf("generating %s", what)
		if *size, err = write(); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return done(path)
	}
	if err := gen(d.base, &d.baseSize, fmt.Sprintf("%d-row CSV", n), func() (int64, error) { return writeCSV(d.base, n, false) }); err != nil {
		return nil, err
	}
	if err := gen(d.changed, &d.changeSize, fmt.Sprintf("%d-row CSV with 50%% of rows changed", n), func() (int64, error) { return writeCSV(d.changed, n, true) }); err != nil {
		return nil, err
	}
	if xlsxRows > 0 {
		if err := gen(d.xlsx, &d.xlsxSize, fmt.Sprintf("%d-row XLSX", xlsxRows), func() (int64, error) { return writeXLSX(d.xlsx, xlsxRows) }); err != nil {
			return nil, err
		}
	}
	return d, nil
}
