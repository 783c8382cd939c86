package exportfmt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ferrydata/ferry/libs/formats/outfile"
)

// The wire forms here are Ferry's own: a batch of read rows and a part of
// formatted XLSX cells travel between services of the same version, and a
// length-prefixed byte layout is smaller and much faster to read than a
// protobuf message per row.

var errShort = errors.New("exportfmt: truncated data")

// AppendRow appends one read row to dst: each value as uvarint(len+1) and
// its bytes, a nil value (SQL NULL) as 0.
func AppendRow(dst []byte, values [][]byte) []byte {
	for _, v := range values {
		if v == nil {
			dst = append(dst, 0)
			continue
		}
		dst = binary.AppendUvarint(dst, uint64(len(v))+1)
		dst = append(dst, v...)
	}
	return dst
}

// NextRow reads one row of n values from src into values (which it
// reuses); the values alias src. It returns the rest of src.
func NextRow(src []byte, n int, values [][]byte) ([][]byte, []byte, error) {
	values = values[:0]
	for range n {
		l, k := binary.Uvarint(src)
		if k <= 0 {
			return nil, nil, errShort
		}
		src = src[k:]
		if l == 0 {
			values = append(values, nil)
			continue
		}
		l--
		if uint64(len(src)) < l {
			return nil, nil, errShort
		}
		values = append(values, src[:l:l])
		src = src[l:]
	}
	return values, src, nil
}

// nextRow reads one row of len(values) values from src, like NextRow, as
// substrings of src; null[i] marks a nil value. It returns the rest of src.
func nextRow(src string, values []string, null []bool) (string, error) {
	for i := range values {
		var l uint64
		k := 0
		for shift := uint(0); ; shift += 7 {
			if k >= len(src) || shift > 63 {
				return "", errShort
			}
			b := src[k]
			k++
			l |= uint64(b&0x7f) << shift
			if b < 0x80 {
				break
			}
		}
		src = src[k:]
		if l == 0 {
			values[i], null[i] = "", true
			continue
		}
		l--
		if uint64(len(src)) < l {
			return "", errShort
		}
		values[i], null[i] = src[:l], false
		src = src[l:]
	}
	return src, nil
}

// AppendCells appends one row of typed cells, numbered row, to dst.
func AppendCells(dst []byte, row int64, cells []outfile.Value) []byte {
	dst = binary.AppendUvarint(dst, uint64(row))
	dst = binary.AppendUvarint(dst, uint64(len(cells)))
	for i := range cells {
		c := &cells[i]
		dst = append(dst, byte(c.Kind))
		switch c.Kind {
		case outfile.String, outfile.JSON:
			dst = binary.AppendUvarint(dst, uint64(len(c.Text)))
			dst = append(dst, c.Text...)
		case outfile.Integer, outfile.Decimal:
			dst = binary.AppendUvarint(dst, uint64(len(c.Num)))
			dst = append(dst, c.Num...)
		case outfile.Bool:
			b := byte(0)
			if c.Bool {
				b = 1
			}
			dst = append(dst, b)
		case outfile.Date, outfile.Timestamp:
			dst = binary.AppendVarint(dst, c.Time.Unix())
			dst = binary.AppendUvarint(dst, uint64(c.Time.Nanosecond()))
		}
	}
	return dst
}

// NextCells reads one row of cells from src into cells (which it reuses).
// It returns the row's number and the rest of src.
func NextCells(src []byte, cells []outfile.Value) (int64, []outfile.Value, []byte, error) {
	row, k := binary.Uvarint(src)
	if k <= 0 || row > math.MaxInt64 {
		return 0, nil, nil, errShort
	}
	src = src[k:]
	n, k := binary.Uvarint(src)
	if k <= 0 || n > uint64(len(src)) {
		return 0, nil, nil, errShort
	}
	src = src[k:]
	cells = cells[:0]
	text := func() (string, error) {
		l, k := binary.Uvarint(src)
		if k <= 0 || uint64(len(src)-k) < l {
			return "", errShort
		}
		s := string(src[k : k+int(l)])
		src = src[k+int(l):]
		return s, nil
	}
	for range n {
		if len(src) == 0 {
			return 0, nil, nil, errShort
		}
		c := outfile.Value{Kind: outfile.ValueKind(src[0])}
		src = src[1:]
		var err error
		switch c.Kind {
		case outfile.Null:
		case outfile.String, outfile.JSON:
			c.Text, err = text()
		case outfile.Integer, outfile.Decimal:
			c.Num, err = text()
		case outfile.Bool:
			if len(src) == 0 {
				return 0, nil, nil, errShort
			}
			c.Bool, src = src[0] == 1, src[1:]
		case outfile.Date, outfile.Timestamp:
			sec, k := binary.Varint(src)
			if k <= 0 {
				return 0, nil, nil, errShort
			}
			src = src[k:]
			ns, k := binary.Uvarint(src)
			if k <= 0 || ns >= 1e9 {
				return 0, nil, nil, errShort
			}
			src = src[k:]
			c.Time = time.Unix(sec, int64(ns)).UTC()
		default:
			return 0, nil, nil, fmt.Errorf("exportfmt: unknown cell kind %d", c.Kind)
		}
		if err != nil {
			return 0, nil, nil, err
		}
		cells = append(cells, c)
	}
	return int64(row), cells, src, nil
}
