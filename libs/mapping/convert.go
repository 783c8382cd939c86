package mapping

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/values"
)

var (
	integerRE = regexp.MustCompile(`^[+-]?[0-9]+$`)
	decimalRE = regexp.MustCompile(`^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]{1,4})?$`)
)

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
		if !integerRE.MatchString(raw) {
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
		if !decimalRE.MatchString(raw) {
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
