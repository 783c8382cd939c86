package values

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// MaxNumberLength bounds the canonical text of a number, as mapping does for
// decimals, so that one cell cannot make the database build a huge number.
const MaxNumberLength = 100

// NumberFormat describes how numbers are written in a file.
type NumberFormat struct {
	// Decimal separates the integer part from the fraction; zero means '.'.
	Decimal rune
	// Thousands separates groups of three digits in the integer part; zero
	// means that no separator is allowed. ' ' also accepts the no-break
	// spaces U+00A0 and U+202F that spreadsheets write.
	Thousands rune
}

// Validate checks that the separators can be told apart from digits, signs
// and each other.
func (f NumberFormat) Validate() error {
	d := f.decimal()
	if d >= '0' && d <= '9' || d == '+' || d == '-' || unicode.IsSpace(d) {
		return fmt.Errorf("decimal separator %q cannot be a digit, a sign or a space", string(d))
	}
	if t := f.Thousands; t != 0 {
		if t >= '0' && t <= '9' || t == '+' || t == '-' {
			return fmt.Errorf("thousands separator %q cannot be a digit or a sign", string(t))
		}
		if f.isThousands(d) {
			return fmt.Errorf("decimal separator and thousands separator are both %q", string(d))
		}
	}
	return nil
}

func (f NumberFormat) decimal() rune {
	if f.Decimal == 0 {
		return '.'
	}
	return f.Decimal
}

// isThousands reports whether r is a thousands separator of the format.
func (f NumberFormat) isThousands(r rune) bool {
	switch f.Thousands {
	case 0:
		return false
	case ' ':
		return r == ' ' || r == '\u00a0' || r == '\u202f'
	}
	return r == f.Thousands
}

// String describes the format, e.g. `decimal separator "." and thousands
// separator ","`.
func (f NumberFormat) String() string {
	d := fmt.Sprintf("decimal separator %q", string(f.decimal()))
	switch f.Thousands {
	case 0:
		return d + " and no thousands separator"
	case ' ':
		return d + ` and thousands separator " " (a space)`
	}
	return fmt.Sprintf("%s and thousands separator %q", d, string(f.Thousands))
}

// example writes 1234567.5 in the format.
func (f NumberFormat) example() string {
	t := string(f.Thousands)
	return "1" + t + "234" + t + "567" + string(f.decimal()) + "5"
}

// ParseNumber reads a decimal number written in the format and returns its
// canonical text: an optional '-', the integer digits without leading zeros
// (but at least one digit), and, when s has a fraction, '.' and the fraction
// digits exactly as written (1,50 stays 1.50). A leading '+' or '-' is
// accepted; exponents, currency signs and spaces around the number are not.
// Thousands separators must stand between groups of three digits. Negative
// zero is written as zero.
func ParseNumber(s string, f NumberFormat) (string, error) {
	if err := f.Validate(); err != nil {
		return "", fmt.Errorf("number format is not valid: %w", err)
	}
	bad := func() error { return fmt.Errorf("%q is not a number with %s", s, f) }
	rest := s
	neg := false
	if rest != "" && (rest[0] == '+' || rest[0] == '-') {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	dec := f.decimal()
	var (
		intPart, frac    []byte
		inFrac, grouped  bool
		groups           []int
		digitsSinceGroup int
	)
	for _, r := range rest {
		switch {
		case r >= '0' && r <= '9':
			if inFrac {
				frac = append(frac, byte(r))
				continue
			}
			intPart = append(intPart, byte(r))
			digitsSinceGroup++
		case r == dec && !inFrac:
			inFrac = true
		case !inFrac && f.isThousands(r):
			if digitsSinceGroup == 0 {
				return "", f.groupingError(s)
			}
			grouped = true
			groups = append(groups, digitsSinceGroup)
			digitsSinceGroup = 0
		default:
			return "", bad()
		}
	}
	if len(intPart) == 0 && len(frac) == 0 {
		return "", bad()
	}
	if inFrac && len(frac) == 0 {
		return "", fmt.Errorf("%q is not a number with %s: the decimal separator has no digits after it", s, f)
	}
	if grouped {
		groups = append(groups, digitsSinceGroup)
		if !validGroups(groups) || intPart[0] == '0' {
			return "", f.groupingError(s)
		}
	}
	out := canonical(neg, intPart, frac)
	if len(out) > MaxNumberLength {
		return "", fmt.Errorf("%q is too long for a number: its canonical form has more than %d characters", s, MaxNumberLength)
	}
	return out, nil
}

// validGroups reports whether the digit counts between thousands separators
// are 1 to 3 and then exactly 3.
func validGroups(groups []int) bool {
	if groups[0] < 1 || groups[0] > 3 {
		return false
	}
	for _, n := range groups[1:] {
		if n != 3 {
			return false
		}
	}
	return true
}

func (f NumberFormat) groupingError(s string) error {
	return fmt.Errorf("%q has thousands separators in the wrong places: with %s, groups of 3 digits are expected, as in %s", s, f, f.example())
}

// canonical writes a sign, the integer part without leading zeros and the
// fraction.
func canonical(neg bool, intPart, frac []byte) string {
	for len(intPart) > 1 && intPart[0] == '0' {
		intPart = intPart[1:]
	}
	if len(intPart) == 0 {
		intPart = []byte{'0'}
	}
	if neg && allZero(intPart) && allZero(frac) {
		neg = false
	}
	var b strings.Builder
	b.Grow(len(intPart) + len(frac) + 2)
	if neg {
		b.WriteByte('-')
	}
	b.Write(intPart)
	if len(frac) > 0 {
		b.WriteByte('.')
		b.Write(frac)
	}
	return b.String()
}

func allZero(digits []byte) bool {
	for _, c := range digits {
		if c != '0' {
			return false
		}
	}
	return true
}

// ParseInteger reads a whole number written in the format, as ParseNumber
// does, refusing any fraction (even 1.00) and values outside the range of a
// 64-bit integer. It returns the number as decimal digits with an optional
// '-'.
func ParseInteger(s string, f NumberFormat) (string, error) {
	n, err := ParseNumber(s, f)
	if err != nil {
		return "", err
	}
	if strings.IndexByte(n, '.') >= 0 {
		return "", fmt.Errorf("%q is not an integer: it has a fractional part", s)
	}
	if _, err := strconv.ParseInt(n, 10, 64); err != nil {
		return "", fmt.Errorf("%q is out of range for an integer (-9223372036854775808 to 9223372036854775807)", s)
	}
	return n, nil
}
