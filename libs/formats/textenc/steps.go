package textenc

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// transformWindow is how much input stepTransform hands to the x/text
// decoder at a time; it bounds the work redone when a window holds U+FFFD.
const transformWindow = 4 << 10

// settleSpan is how many bytes after the last invalid one the character by
// character decoding goes on before it returns to the fast path.
const settleSpan = 256

// utf8Block is the length of the blocks of an invalid UTF-8 block that are
// validated again before one is walked rune by rune.
const utf8Block = 1 << 10

var replacementUTF8 = []byte(string(utf8.RuneError))

// stepUTF8 validates whole blocks with utf8.Valid and copies them; only a
// block with an invalid sequence is walked rune by rune.
func (d *Decoder) stepUTF8(dst, src []byte, atEOF bool) (nDst, nSrc int) {
	for nSrc < len(src) && len(dst)-nDst >= reserve {
		block := src[nSrc:]
		whole := atEOF
		if room := len(dst) - nDst; len(block) > room {
			block, whole = block[:room], false
		}
		if !whole {
			block = block[:completeUTF8(block)]
			if len(block) == 0 {
				break
			}
		}
		if utf8.Valid(block) {
			nDst += copy(dst[nDst:], block)
			nSrc += len(block)
			d.inRun = false
			continue
		}
		// Walk only the small blocks that hold invalid bytes. Markers take
		// room, so a small block is also cut to the room left, and cut
		// before a character it holds only in part.
		for len(block) > 0 && len(dst)-nDst >= reserve {
			small := block
			if n := min(utf8Block, len(dst)-nDst); len(small) > n {
				small = small[:completeUTF8(small[:n])]
			}
			var wd, ws int
			if utf8.Valid(small) {
				wd, ws = copy(dst[nDst:], small), len(small)
				d.inRun = false
			} else {
				wd, ws = d.walkUTF8(dst[nDst:], small, d.off+int64(nSrc))
			}
			nDst += wd
			nSrc += ws
			block = block[ws:]
		}
	}
	return nDst, nSrc
}

// completeUTF8 returns the length of b without a trailing sequence that
// could still become a valid character with more bytes.
func completeUTF8(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-(utf8.UTFMax-1); i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				break
			}
			return i
		}
	}
	return len(b)
}

// walkUTF8 copies the valid characters of src, which starts at file offset
// base, and marks the invalid bytes.
func (d *Decoder) walkUTF8(dst, src []byte, base int64) (nDst, nSrc int) {
	for nSrc < len(src) && len(dst)-nDst >= reserve {
		if c := src[nSrc]; c < utf8.RuneSelf {
			dst[nDst] = c
			nDst++
			nSrc++
			d.inRun = false
			continue
		}
		_, size := utf8.DecodeRune(src[nSrc:])
		if size == 1 {
			nDst += d.mark(dst[nDst:], base+int64(nSrc))
			nSrc++
			continue
		}
		nDst += copy(dst[nDst:], src[nSrc:nSrc+size])
		nSrc += size
		d.inRun = false
	}
	return nDst, nSrc
}

// stepSBCS decodes a single-byte charset through its table.
func (d *Decoder) stepSBCS(dst, src []byte) (nDst, nSrc int) {
	t := d.sbcs
	run := d.inRun
	for nSrc < len(src) && len(dst)-nDst >= reserve {
		// Every byte of the batch fits even as three bytes of UTF-8, with
		// room for a marker left over; a marker ends the batch.
		end := nSrc + min(len(src)-nSrc, (len(dst)-nDst-maxMarkerLen)/3)
	batch:
		for nSrc < end {
			c := src[nSrc]
			if c < utf8.RuneSelf {
				dst[nDst] = c
				nDst++
				nSrc++
				run = false
				continue
			}
			e := &t[c]
			if e.n == 0 {
				nSrc++
				if !run {
					run = true
					d.invalid++
					nDst += putMarker(dst[nDst:], d.off+int64(nSrc-1))
					break batch
				}
				continue
			}
			dst[nDst], dst[nDst+1], dst[nDst+2] = e.b[0], e.b[1], e.b[2]
			nDst += int(e.n)
			nSrc++
			run = false
		}
	}
	d.inRun = run
	return nDst, nSrc
}

// stepTransform decodes UTF-16, Shift-JIS and GBK with the x/text decoder,
// which turns invalid input into U+FFFD. When the output of a window holds
// U+FFFD, the output before it is kept, and the input from there is decoded
// character by character, to tell invalid input from a validly encoded
// U+FFFD and to find the offsets, until settleSpan bytes after the last
// invalid byte.
func (d *Decoder) stepTransform(dst, src []byte, atEOF bool) (nDst, nSrc int) {
	for nSrc < len(src) && len(dst)-nDst >= reserve {
		window, final := src[nSrc:], atEOF
		if len(window) > transformWindow {
			window, final = window[:transformWindow], false
		}
		wd, ws, _ := d.t.Transform(dst[nDst:], window, final)
		i := bytes.Index(dst[nDst:nDst+wd], replacementUTF8)
		switch {
		case i == 0:
			wd, ws = 0, 0
		case i > 0:
			// The decoders write whole characters while they fit, so
			// decoding again into exactly i bytes stops before the U+FFFD.
			wd, ws, _ = d.t.Transform(dst[nDst:nDst+i], window, final)
		}
		if wd > 0 {
			d.inRun = false
		}
		nDst += wd
		nSrc += ws
		if i < 0 {
			if ws == 0 {
				break
			}
			continue
		}
		window, final = src[nSrc:], atEOF
		if len(window) > transformWindow {
			window, final = window[:transformWindow], false
		}
		if d.enc.k == kindUTF16LE || d.enc.k == kindUTF16BE {
			wd, ws = d.walkUTF16(dst[nDst:], window, final, d.off+int64(nSrc))
		} else {
			wd, ws = d.walkDBCS(dst[nDst:], window, final, d.off+int64(nSrc))
		}
		if ws == 0 {
			break
		}
		nDst += wd
		nSrc += ws
	}
	return nDst, nSrc
}

// walkUTF16 decodes the UTF-16 in src, which starts at file offset base,
// until settleSpan bytes after the last invalid byte, and marks lone
// surrogates and an odd trailing byte.
func (d *Decoder) walkUTF16(dst, src []byte, final bool, base int64) (nDst, nSrc int) {
	unit := func(b []byte) rune {
		if d.enc.k == kindUTF16BE {
			return rune(b[0])<<8 | rune(b[1])
		}
		return rune(b[1])<<8 | rune(b[0])
	}
	settle := settleSpan
	for nSrc < len(src) && nSrc < settle && len(dst)-nDst >= reserve {
		rest := src[nSrc:]
		if len(rest) < 2 {
			if !final {
				break
			}
			nDst += d.mark(dst[nDst:], base+int64(nSrc))
			nSrc++
			settle = nSrc + settleSpan
			continue
		}
		r, size := unit(rest), 2
		switch {
		case 0xD800 <= r && r < 0xDC00:
			if len(rest) < 4 && !final {
				return nDst, nSrc
			}
			if len(rest) >= 4 {
				if r2 := unit(rest[2:]); 0xDC00 <= r2 && r2 < 0xE000 {
					r, size = utf16.DecodeRune(r, r2), 4
					break
				}
			}
			r = -1
		case 0xDC00 <= r && r < 0xE000:
			r = -1
		}
		if r < 0 {
			nDst += d.mark(dst[nDst:], base+int64(nSrc))
			nSrc += 2
			settle = nSrc + settleSpan
			continue
		}
		nDst += utf8.EncodeRune(dst[nDst:], r)
		nSrc += size
		d.inRun = false
	}
	return nDst, nSrc
}

// walkDBCS decodes the Shift-JIS or GBK in src, which starts at file offset
// base, until settleSpan bytes after the last invalid byte. It decodes one
// character at a time with the x/text decoder and marks the characters that
// come out as U+FFFD, which neither encoding can encode. As in the WHATWG
// Encoding Standard, the second byte of an invalid pair is decoded again
// when it is ASCII, so that an invalid lead byte cannot hide a delimiter or
// a quote.
func (d *Decoder) walkDBCS(dst, src []byte, final bool, base int64) (nDst, nSrc int) {
	buf := d.char[:]
	settle := settleSpan
	for nSrc < len(src) && nSrc < settle && len(dst)-nDst >= reserve {
		c := src[nSrc]
		if c < utf8.RuneSelf {
			dst[nDst] = c
			nDst++
			nSrc++
			d.inRun = false
			continue
		}
		w := d.enc.dbcsWidth(c)
		if w == 2 && nSrc+1 == len(src) {
			if !final {
				break
			}
			w = 0
		}
		if w > 0 {
			n, _, _ := d.t.Transform(buf, src[nSrc:nSrc+w], true)
			if r, size := utf8.DecodeRune(buf[:n]); r != utf8.RuneError {
				nDst += copy(dst[nDst:], buf[:size])
				nSrc += w
				d.inRun = false
				continue
			}
		}
		nDst += d.mark(dst[nDst:], base+int64(nSrc))
		nSrc++
		if w == 2 && src[nSrc] >= utf8.RuneSelf {
			nSrc++
		}
		settle = nSrc + settleSpan
	}
	return nDst, nSrc
}
