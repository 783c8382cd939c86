package mapping

import (
	"encoding/json"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

var (
	integerRE = regexp.MustCompile(`^[+-]?[0-9]+$`)
	decimalRE = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?$`)
)

// maxDecimalLen bounds a decimal's text so that one cell cannot make
// PostgreSQL build a huge number.
const maxDecimalLen = 100

// convert validates raw as a value of type t and returns its canonical text.
// An empty cell is NULL. reason is "" when the value is valid.
func convert(t ferryv1.FieldType, raw string) (val string, null bool, reason string) {
	if raw == "" {
		return "", true, ""
	}
	if !utf8.ValidString(raw) {
		return "", false, "value is not valid UTF-8"
	}
	if strings.IndexByte(raw, 0) >= 0 {
		return "", false, "value contains a NUL character"
	}
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_STRING:
		return raw, false, ""
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		if !integerRE.MatchString(raw) {
			return "", false, "not an integer (digits with an optional sign are expected)"
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return "", false, "integer out of range (-9223372036854775808 to 9223372036854775807)"
		}
		return strconv.FormatInt(n, 10), false, ""
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		if len(raw) > maxDecimalLen || !decimalRE.MatchString(raw) {
			return "", false, "not a decimal number (digits with an optional sign, a '.' decimal point and no thousands separators are expected)"
		}
		return raw, false, ""
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		switch strings.ToLower(raw) {
		case "true", "t", "yes", "y", "1":
			return "true", false, ""
		case "false", "f", "no", "n", "0":
			return "false", false, ""
		}
		return "", false, "not a boolean (true/false, yes/no, y/n, t/f or 1/0 are expected)"
	case ferryv1.FieldType_FIELD_TYPE_DATE:
		d, err := time.Parse("2006-01-02", raw)
		if err != nil {
			return "", false, "not a date in ISO 8601 form YYYY-MM-DD"
		}
		return d.Format("2006-01-02"), false, ""
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		ts, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			if _, err2 := time.Parse("2006-01-02T15:04:05.999999999", strings.Replace(raw, " ", "T", 1)); err2 == nil {
				return "", false, "timestamp has no UTC offset (e.g. 2024-05-01T09:00:00Z or +02:00 is expected)"
			}
			return "", false, "not an RFC 3339 timestamp (e.g. 2024-05-01T09:00:00Z)"
		}
		return ts.Format(time.RFC3339Nano), false, ""
	case ferryv1.FieldType_FIELD_TYPE_JSON:
		if !json.Valid([]byte(raw)) {
			return "", false, "not valid JSON"
		}
		return raw, false, ""
	}
	return "", false, "field has no type"
}

// canonicalKey makes equal values of a key field equal strings, as
// PostgreSQL would compare them (1.50 and 1.5 are one decimal key).
func canonicalKey(t ferryv1.FieldType, val string) string {
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		if r, ok := new(big.Rat).SetString(val); ok {
			return r.RatString()
		}
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		if ts, err := time.Parse(time.RFC3339Nano, val); err == nil {
			return ts.UTC().Format(time.RFC3339Nano)
		}
	}
	return val
}

// ColumnType returns the PostgreSQL type of a field type.
func ColumnType(t ferryv1.FieldType) string {
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_STRING:
		return "text"
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		return "bigint"
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		return "numeric"
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		return "boolean"
	case ferryv1.FieldType_FIELD_TYPE_DATE:
		return "date"
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		return "timestamptz"
	case ferryv1.FieldType_FIELD_TYPE_JSON:
		return "jsonb"
	}
	return ""
}
