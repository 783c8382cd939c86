package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/values"
)

// isInteger reports whether s is digits with an optional sign:
// ^[+-]?[0-9]+$ (a hand-written match: it runs for every integer cell).
func isInteger(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	return s != "" && digits(s) == len(s)
}

// isDecimal reports whether s matches
// ^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?$.
func isDecimal(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	whole := digits(s)
	s = s[whole:]
	frac := 0
	if s != "" && s[0] == '.' {
		frac = digits(s[1:])
		s = s[1+frac:]
	}
	if whole == 0 && frac == 0 {
		return false
	}
	if s == "" {
		return true
	}
	if s[0] != 'e' && s[0] != 'E' {
		return false
	}
	s = s[1:]
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	n := digits(s)
	return n >= 1 && n <= 4 && n == len(s)
}

// digits counts the leading ASCII digits of s.
func digits(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return i
		}
	}
	return len(s)
}

// isoDate reports whether s is a valid date written YYYY-MM-DD (year 0001
// or later), the common case that needs no parsing.
func isoDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || digits(s[:4]) != 4 || digits(s[5:7]) != 2 || digits(s[8:]) != 2 {
		return false
	}
	y := int(s[0]-'0')*1000 + int(s[1]-'0')*100 + int(s[2]-'0')*10 + int(s[3]-'0')
	m := int(s[5]-'0')*10 + int(s[6]-'0')
	d := int(s[8]-'0')*10 + int(s[9]-'0')
	if y == 0 || m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// maxDecimalLen bounds a decimal's text so that one cell cannot make
// PostgreSQL build a huge number.
const maxDecimalLen = 100

// convert validates raw as a value of type t, read with o, and returns its
// canonical text. An empty cell is NULL. reason is "" when the value is valid.
func convert(t ferryv1.FieldType, raw string, o *parseOptions) (val string, null bool, reason string) {
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
		if o.num != nil {
			v, err := values.ParseInteger(raw, *o.num)
			if err != nil {
				return "", false, err.Error()
			}
			return v, false, ""
		}
		if !isInteger(raw) {
			return "", false, "not an integer (digits with an optional sign are expected)"
		}
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return "", false, "integer out of range (-9223372036854775808 to 9223372036854775807)"
		}
		return strconv.FormatInt(n, 10), false, ""
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		if len(raw) > maxDecimalLen {
			return "", false, fmt.Sprintf("a decimal number has at most %d characters", maxDecimalLen)
		}
		if o.num != nil {
			v, err := values.ParseNumber(raw, *o.num)
			if err != nil {
				return "", false, err.Error()
			}
			return v, false, ""
		}
		if !isDecimal(raw) {
			return "", false, "not a decimal number (digits with an optional sign, a '.' decimal point and no thousands separators are expected; set decimalSeparator and thousandsSeparator to read others)"
		}
		return raw, false, ""
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		if o.bools != nil {
			b, err := o.bools.Parse(raw)
			if err != nil {
				return "", false, err.Error()
			}
			return strconv.FormatBool(b), false, ""
		}
		switch strings.ToLower(raw) {
		case "true", "t", "yes", "y", "1":
			return "true", false, ""
		case "false", "f", "no", "n", "0":
			return "false", false, ""
		}
		return "", false, "not a boolean (true/false, yes/no, y/n, t/f or 1/0 are expected; set trueWords and falseWords to read others)"
	case ferryv1.FieldType_FIELD_TYPE_DATE:
		if len(o.dates) == 0 && isoDate(raw) {
			return raw, false, ""
		}
		d, err := values.ParseDate(raw, o.dates)
		if err != nil {
			return "", false, dateReason(err)
		}
		return d, false, ""
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		ts, err := values.ParseTimestamp(raw, o.dates, o.loc)
		if err != nil {
			return "", false, dateReason(err)
		}
		return ts, false, ""
	case ferryv1.FieldType_FIELD_TYPE_JSON:
		if !json.Valid([]byte(raw)) {
			return "", false, "not valid JSON"
		}
		return raw, false, ""
	}
	return "", false, "field has no type"
}

// dateReason says that an ambiguous date is ambiguous, before the readings.
func dateReason(err error) string {
	var amb *values.AmbiguousDateError
	if errors.As(err, &amb) {
		return "ambiguous date: " + err.Error()
	}
	return err.Error()
}

// typedValue is a converted value as row rules see it: int64, float64,
// bool, time.Time, string, or nil for NULL.
func typedValue(t ferryv1.FieldType, val string, null bool) any {
	if null {
		return nil
	}
	switch t {
	case ferryv1.FieldType_FIELD_TYPE_INTEGER:
		if n, err := strconv.ParseInt(val, 10, 64); err == nil {
			return n
		}
	case ferryv1.FieldType_FIELD_TYPE_DECIMAL:
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			return f
		}
	case ferryv1.FieldType_FIELD_TYPE_BOOLEAN:
		return val == "true"
	case ferryv1.FieldType_FIELD_TYPE_DATE:
		if d, err := time.Parse("2006-01-02", val); err == nil {
			return d
		}
	case ferryv1.FieldType_FIELD_TYPE_TIMESTAMP:
		if ts, err := time.Parse(time.RFC3339Nano, val); err == nil {
			return ts
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
