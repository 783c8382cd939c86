package xls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/richardlehane/mscfb"
)

var (
	oleSignature = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	zipSignature = []byte("PK\x03\x04")
)

// readChunk is the size of one read of the workbook stream. mscfb merges
// the sectors of one read with a quadratic step, so reads stay small.
const readChunk = 64 << 10

// sniff tells an OLE2 compound file from the files most often uploaded
// under an .xls name instead.
func sniff(r io.ReaderAt, size int64) error {
	if size == 0 {
		return fmt.Errorf("%w: the file is empty", ErrNotXLS)
	}
	head := make([]byte, min(size, 512))
	if n, err := r.ReadAt(head, 0); n < len(head) {
		return fmt.Errorf("read file header: %w", err)
	}
	switch {
	case bytes.HasPrefix(head, oleSignature):
		return nil
	case bytes.HasPrefix(head, zipSignature):
		return ErrXLSX
	case len(head) >= 4 && head[0] == 0x09 && (head[1] == 0x00 || head[1] == 0x02 || head[1] == 0x04) && head[3] == 0x00:
		// A bare BIFF2-4 stream: Excel 2.x to 4.0 wrote no compound file.
		return fmt.Errorf("%w (this one is from Excel 2.x-4.0)", ErrBIFF5)
	}
	text := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF")), " \t\r\n")
	if bytes.HasPrefix(text, []byte("<")) {
		return fmt.Errorf("%w: it is an HTML or XML file (a web page or Excel 2003 XML saved under an .xls name)", ErrNotXLS)
	}
	if looksLikeText(head) {
		return fmt.Errorf("%w: it is a text file (CSV or tab-separated text saved under an .xls name?)", ErrNotXLS)
	}
	return ErrNotXLS
}

// looksLikeText reports whether b is UTF-8 text without NUL bytes; the
// last character may be cut short.
func looksLikeText(b []byte) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			return !utf8.FullRune(b)
		}
		b = b[n:]
	}
	return true
}

// checkHeader rejects compound file headers whose sector counts cannot fit
// in the file, before mscfb allocates by them.
func checkHeader(r io.ReaderAt, size int64) error {
	if size < 512 {
		return malformed("the compound file header is truncated (%d bytes)", size)
	}
	h := make([]byte, 512)
	if _, err := r.ReadAt(h, 0); err != nil {
		return fmt.Errorf("read compound file header: %w", err)
	}
	shift := binary.LittleEndian.Uint16(h[30:])
	if shift != 9 && shift != 12 {
		return malformed("compound file sector size 2^%d is neither 512 nor 4096", shift)
	}
	sectors := uint64(size>>shift) + 1
	for _, f := range []struct {
		name string
		at   int
	}{{"directory", 40}, {"FAT", 44}, {"mini FAT", 64}, {"DIFAT", 72}} {
		if n := binary.LittleEndian.Uint32(h[f.at:]); uint64(n) > sectors {
			return malformed("the compound file header declares %d %s sectors, the %d-byte file holds at most %d", n, f.name, size, sectors)
		}
	}
	return nil
}

// errReadBudget stops mscfb when a looping sector chain would make it read
// far more than the file holds.
var errReadBudget = errors.New("sector chains read more than the file holds (a chain loops)")

// budgetReader is an io.ReaderAt that fails once it has read a set number
// of bytes.
type budgetReader struct {
	r    io.ReaderAt
	left int64
}

func (b *budgetReader) ReadAt(p []byte, off int64) (int, error) {
	if int64(len(p)) > b.left {
		return 0, errReadBudget
	}
	b.left -= int64(len(p))
	return b.r.ReadAt(p, off)
}

// cfbCall calls the compound-file library. Its bugs are not ours to fix: it
// indexes slices that a damaged file leaves empty (a directory without
// entries, found by fuzzing). A panic in it is an error of the file,
// whatever recoverPanics says, so that the fuzz tests, which turn that off,
// still see the panics of this package's own code.
func cfbCall[T any](f func() (T, error)) (v T, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the compound-file reader failed: %v", p)
		}
	}()
	return f()
}

// workbookStream finds the BIFF8 workbook stream in a compound file and
// reads it into memory.
func workbookStream(r io.ReaderAt, size int64) ([]byte, error) {
	if err := checkHeader(r, size); err != nil {
		return nil, err
	}
	// Opening reads the header, the directory and the FAT chains it needs:
	// a small part of a real file.
	budget := &budgetReader{r: io.NewSectionReader(r, 0, size), left: 64<<10 + size/8}
	doc, err := cfbCall(func() (*mscfb.Reader, error) { return mscfb.New(budget) })
	if err != nil {
		return nil, malformed("compound file: %v", err)
	}
	var book, book5, encrypted *mscfb.File
	for _, f := range doc.File {
		if len(f.Path) != 0 {
			continue
		}
		switch strings.ToLower(f.Name) {
		case "workbook":
			book = f
		case "book":
			book5 = f
		case "encryptedpackage":
			encrypted = f
		}
	}
	switch {
	case book != nil:
	case encrypted != nil:
		// A password-protected XLSX is a compound file too.
		return nil, ErrEncrypted
	case book5 != nil:
		return nil, ErrBIFF5
	default:
		return nil, fmt.Errorf("%w: the compound file has no Workbook stream (is it another Office document?)", ErrNotXLS)
	}
	if book.Size <= 0 || book.Size > size {
		return nil, malformed("the Workbook stream declares %d bytes in a %d-byte file", book.Size, size)
	}
	if book.Size > math.MaxUint32 {
		// BIFF8 addresses the stream with 32-bit offsets.
		return nil, malformed("the Workbook stream is %d bytes, more than BIFF8 can address", book.Size)
	}
	// A stream read touches every sector once plus 4 bytes of FAT per
	// sector.
	budget.left = 2*book.Size + 64<<10
	data := make([]byte, book.Size)
	for off := 0; off < len(data); {
		n, err := cfbCall(func() (int, error) { return book.Read(data[off:min(off+readChunk, len(data))]) })
		off += n
		if err == io.EOF && off == len(data) {
			break
		}
		if err != nil {
			return nil, malformed("read Workbook stream at byte %d: %v", off, err)
		}
		if n == 0 {
			return nil, malformed("read Workbook stream at byte %d: no progress", off)
		}
	}
	return data, nil
}
