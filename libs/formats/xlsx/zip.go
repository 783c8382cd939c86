package xlsx

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
)

// archive is the zip container of a workbook, with the accounting that
// bounds what reading it may cost.
type archive struct {
	zr     *zip.Reader
	files  map[string]*zip.File // by normalised name, see partKey
	limits Limits
	total  atomic.Int64 // bytes decompressed from all entries

	// mu hands the compressed-byte counter of the entry being opened to the
	// decompressor registered on zr, which zip.File.Open calls synchronously.
	mu      sync.Mutex
	handoff *countingReader
}

// partKey normalises a part name for lookup: OPC part names are
// case-insensitive, and some writers use backslashes or a leading slash.
func partKey(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	return strings.ToLower(strings.TrimLeft(name, "/"))
}

func openArchive(r io.ReaderAt, size int64, l Limits) (*archive, error) {
	if n, ok := zipEntryCount(r, size); ok && n > uint64(l.MaxEntries) {
		return nil, &LimitError{What: LimitZipEntries, Limit: int64(l.MaxEntries), Found: int64(min(n, 1<<62))}
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%w: read zip directory: %v", ErrNotWorkbook, err)
	}
	if len(zr.File) > l.MaxEntries {
		return nil, &LimitError{What: LimitZipEntries, Limit: int64(l.MaxEntries), Found: int64(len(zr.File))}
	}
	a := &archive{zr: zr, files: make(map[string]*zip.File, len(zr.File)), limits: l}
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		k := partKey(f.Name)
		if _, dup := a.files[k]; dup {
			return nil, malformedf("the zip holds %s twice", quote([]byte(f.Name)))
		}
		a.files[k] = f
	}
	zr.RegisterDecompressor(zip.Deflate, func(r io.Reader) io.ReadCloser {
		c := a.handoff
		if c == nil {
			c = &countingReader{}
		}
		c.r = r
		return flate.NewReader(c)
	})
	return a, nil
}

// zipEntryCount reads the entry count from the end of central directory
// record (or its zip64 variant), so that a zip with too many entries is
// refused before archive/zip builds its directory. ok is false when the
// record cannot be found; zip.NewReader then reports the problem.
func zipEntryCount(r io.ReaderAt, size int64) (n uint64, ok bool) {
	const eocdLen = 22
	tail := min(size, eocdLen+65535)
	if tail < eocdLen {
		return 0, false
	}
	buf := make([]byte, tail)
	if _, err := r.ReadAt(buf, size-tail); err != nil && err != io.EOF {
		return 0, false
	}
	i := bytes.LastIndex(buf, []byte("PK\x05\x06"))
	if i < 0 || len(buf)-i < eocdLen {
		return 0, false
	}
	n = uint64(binary.LittleEndian.Uint16(buf[i+10:]))
	if n != 0xFFFF {
		return n, true
	}
	// zip64: the locator sits right before the record and points at the
	// zip64 end of central directory record.
	const locLen, eocd64Len = 20, 56
	if i < locLen || !bytes.Equal(buf[i-locLen:i-locLen+4], []byte("PK\x06\x07")) {
		return n, true
	}
	off := binary.LittleEndian.Uint64(buf[i-locLen+8:])
	if off > uint64(size) || uint64(size)-off < eocd64Len {
		return n, true
	}
	rec := make([]byte, eocd64Len)
	if _, err := r.ReadAt(rec, int64(off)); err != nil || !bytes.Equal(rec[:4], []byte("PK\x06\x06")) {
		return n, true
	}
	return binary.LittleEndian.Uint64(rec[32:]), true
}

// countingReader counts the compressed bytes a decompressor reads.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// file returns the zip entry of a part, or nil.
func (a *archive) file(name string) *zip.File { return a.files[partKey(name)] }

// open opens a part for reading through the limits: total bytes decompressed
// and the entry's compression ratio, both counted on the bytes that actually
// come out of the decompressor.
func (a *archive) open(f *zip.File) (*entryReader, error) {
	raw := &countingReader{}
	a.mu.Lock()
	a.handoff = raw
	rc, err := f.Open()
	a.handoff = nil
	a.mu.Unlock()
	if err != nil {
		return nil, malformedf("open zip entry %s: %v", f.Name, err)
	}
	e := &entryReader{a: a, f: f, rc: rc}
	if f.Method == zip.Deflate {
		e.raw = raw
	}
	return e, nil
}

// entryReader reads one zip entry within the archive's limits.
type entryReader struct {
	a   *archive
	f   *zip.File
	rc  io.ReadCloser
	raw *countingReader // compressed bytes consumed; nil when stored
	n   int64           // bytes decompressed from this entry
	err error
}

func (e *entryReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.rc.Read(p)
	if n > 0 {
		e.n += int64(n)
		l := e.a.limits
		if total := e.a.total.Add(int64(n)); total > l.MaxUncompressed {
			e.err = &LimitError{What: LimitUncompressed, Limit: l.MaxUncompressed, Found: total, Part: e.f.Name}
			return 0, e.err
		}
		if e.raw != nil && e.n > ratioFloor && e.n > int64(l.MaxRatio)*max(e.raw.n, 1) {
			e.err = &LimitError{What: LimitRatio, Limit: int64(l.MaxRatio), Found: e.n / max(e.raw.n, 1), Part: e.f.Name}
			return 0, e.err
		}
	}
	if err != nil && err != io.EOF {
		var le *LimitError
		var ce flate.CorruptInputError
		switch {
		case errors.As(err, &le):
		case errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrFormat),
			errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ce):
			err = malformedf("read zip entry %s: %v", e.f.Name, err)
		default:
			err = fmt.Errorf("read zip entry %s: %w", e.f.Name, err)
		}
		e.err = err
	}
	return n, err
}

// Close releases the entry. The decompressor's Close returns the error that
// ended its reading (corrupt data it may have met reading ahead of what was
// consumed): that is an error of the data, reported by Read when the data is
// read, not of closing, which holds no resource of its own.
func (e *entryReader) Close() error {
	_ = e.rc.Close()
	return nil
}
