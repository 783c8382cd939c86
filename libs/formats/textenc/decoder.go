package textenc

import (
	"bytes"
	"fmt"
	"io"
	"unicode/utf8"

	"golang.org/x/text/transform"
)

const (
	// bufSize is the size of the input and of the output buffer.
	bufSize = 64 << 10
	// reserve is the room in dst a decoding step needs for one character or
	// one marker.
	reserve = 32
	// maxEmptyReads is how many times in a row the underlying reader may
	// return nothing before Read gives up with io.ErrNoProgress.
	maxEmptyReads = 100
)

var (
	bomUTF8    = []byte{0xEF, 0xBB, 0xBF}
	bomUTF16LE = []byte{0xFF, 0xFE}
	bomUTF16BE = []byte{0xFE, 0xFF}
)

// Decoder reads a whole file from its first byte and yields UTF-8, with a
// marker for each run of invalid bytes (see the package documentation). It
// holds two 64 KiB buffers whatever the size of the input. A Decoder is not
// safe for concurrent use.
type Decoder struct {
	r   io.Reader
	enc Encoding

	sbcs *sbcsTable            // single-byte charsets
	t    transform.Transformer // UTF-16, Shift-JIS and GBK
	char [8]byte               // one character decoded by t

	in         []byte
	start, end int   // in[start:end] is read but not decoded
	off        int64 // file offset of in[start]
	rerr       error // error of the underlying reader, io.EOF at its end

	out            []byte
	outPos, outEnd int   // out[outPos:outEnd] is decoded but not returned
	err            error // what Read returns once out is drained

	began   bool
	inRun   bool // the last decoded byte was invalid
	invalid int64
}

// NewDecoder returns a Decoder that reads r from its first byte as text in
// enc. A byte-order mark at the very start (UTF-8 EF BB BF, UTF-16 LE FF FE,
// UTF-16 BE FE FF) decides the encoding whatever enc says, and is removed
// from the output. Each maximal run of bytes that are invalid in the encoding
// is written as MarkerStart, the decimal offset in r (counting the byte-order
// mark) of the run's first byte, MarkerEnd. A U+FFFD that is validly encoded
// in r stays U+FFFD. The output is otherwise valid UTF-8; valid UTF-8 read
// as UTF-8 passes through byte for byte.
func NewDecoder(r io.Reader, enc Encoding) *Decoder {
	return newDecoderSize(r, enc, bufSize, bufSize)
}

// newDecoderSize returns a Decoder with buffers of the given sizes; tests use
// small ones to cross buffer boundaries often. The input buffer must hold a
// character (utf8.UTFMax bytes) and the output buffer a character or a
// marker (reserve bytes).
func newDecoderSize(r io.Reader, enc Encoding, in, out int) *Decoder {
	return &Decoder{r: r, enc: enc, in: make([]byte, max(in, utf8.UTFMax)), out: make([]byte, max(out, reserve))}
}

// Encoding returns the encoding in use: the one of the byte-order mark, if
// the input starts with one, else the one given to NewDecoder. It is final
// after the first Read.
func (d *Decoder) Encoding() Encoding { return d.enc }

// Invalid returns how many runs of invalid bytes, and so markers, were met so
// far.
func (d *Decoder) Invalid() int64 { return d.invalid }

// Read reads decoded UTF-8 into p. It returns io.EOF at the end of the input,
// and an error of the underlying reader, wrapped, once everything decoded
// before it was read.
func (d *Decoder) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !d.began {
		d.begin()
	}
	for d.outPos == d.outEnd {
		if d.err != nil {
			return 0, d.err
		}
		d.decode()
	}
	n := copy(p, d.out[d.outPos:d.outEnd])
	d.outPos += n
	return n, nil
}

// begin reads the first bytes, takes the encoding from a byte-order mark if
// there is one and skips the mark.
func (d *Decoder) begin() {
	d.began = true
	for d.end < len(bomUTF8) && d.rerr == nil {
		d.fill()
	}
	head := d.in[:d.end]
	switch {
	case bytes.HasPrefix(head, bomUTF8):
		d.enc, d.start = UTF8, len(bomUTF8)
	case bytes.HasPrefix(head, bomUTF16LE):
		d.enc, d.start = UTF16LE, len(bomUTF16LE)
	case bytes.HasPrefix(head, bomUTF16BE):
		d.enc, d.start = UTF16BE, len(bomUTF16BE)
	}
	d.off = int64(d.start)
	d.sbcs = sbcsTables[d.enc.k]
	d.t = d.enc.newTransformer()
}

// decode fills the empty output buffer, reading more input when the
// buffered input holds no whole character, or sets d.err.
func (d *Decoder) decode() {
	d.outPos, d.outEnd = 0, 0
	for {
		if d.start < d.end {
			nDst, nSrc := d.step(d.out, d.in[d.start:d.end], d.rerr == io.EOF)
			d.start += nSrc
			d.off += int64(nSrc)
			if nDst > 0 {
				d.outEnd = nDst
				return
			}
			if nSrc > 0 {
				continue
			}
		}
		switch {
		case d.rerr == io.EOF:
			d.err = io.EOF
			return
		case d.rerr != nil:
			d.err = fmt.Errorf("read %s text: %w", d.enc.Name(), d.rerr)
			return
		}
		d.fill()
	}
}

// fill moves the undecoded input to the front of the buffer and reads more
// after it.
func (d *Decoder) fill() {
	if d.start > 0 {
		d.end = copy(d.in, d.in[d.start:d.end])
		d.start = 0
	}
	for range maxEmptyReads {
		n, err := d.r.Read(d.in[d.end:])
		d.end += n
		if err != nil {
			d.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	d.rerr = io.ErrNoProgress
}

// step decodes src, which starts at file offset d.off, into dst. It stops at
// the end of src, when dst has less than reserve bytes of room, or, unless
// atEOF, before a character that src holds only in part. It returns the
// bytes written and read.
func (d *Decoder) step(dst, src []byte, atEOF bool) (nDst, nSrc int) {
	switch {
	case d.enc.k == kindUTF8:
		return d.stepUTF8(dst, src, atEOF)
	case d.sbcs != nil:
		return d.stepSBCS(dst, src)
	}
	return d.stepTransform(dst, src, atEOF)
}

// mark writes the marker for the invalid byte at file offset off to dst and
// returns its length, or writes nothing if the byte extends the invalid run
// of the previous marker.
func (d *Decoder) mark(dst []byte, off int64) int {
	if d.inRun {
		return 0
	}
	d.inRun = true
	d.invalid++
	return putMarker(dst, off)
}
