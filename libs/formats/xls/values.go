package xls

import (
	"encoding/binary"
	"math"
	"strconv"
	"strings"
)

// errorCodes are the texts of BErr error values ([MS-XLS] 2.5.10).
var errorCodes = map[byte]string{
	0x00: "#NULL!",
	0x07: "#DIV/0!",
	0x0F: "#VALUE!",
	0x17: "#REF!",
	0x1D: "#NAME?",
	0x24: "#NUM!",
	0x2A: "#N/A",
	0x2B: "#GETTING_DATA",
}

// formatNumber renders v as the shortest decimal that parses back to v,
// without an exponent and without a trailing ".0". It reports false for
// NaN and infinities, which no spreadsheet cell holds.
func formatNumber(v float64) (string, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "", false
	}
	if v == 0 {
		return "0", true // and not "-0"
	}
	s := strconv.FormatFloat(v, 'f', -1, 64)
	// 'f' with precision -1 writes neither an exponent nor ".0"; this guards
	// the promise should the strconv rules ever change.
	if strings.ContainsAny(s, "eE") || strings.HasSuffix(s, ".0") {
		return "", false
	}
	return s, true
}

// decodeRK decodes an RkNumber ([MS-XLS] 2.5.217): a 30-bit integer or the
// high 30 bits of a float64, optionally divided by 100.
func decodeRK(rk uint32) float64 {
	var v float64
	if rk&0x02 != 0 {
		v = float64(int32(rk) >> 2)
	} else {
		v = math.Float64frombits(uint64(rk&0xFFFFFFFC) << 32)
	}
	if rk&0x01 != 0 {
		v /= 100
	}
	return v
}

func f64(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }
