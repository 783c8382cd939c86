package values

import (
	"fmt"
	"strings"
)

// BoolWords lists the words that mean true and false. Words are compared
// without regard to case, after trimming spaces from the value.
type BoolWords struct {
	True  []string
	False []string
}

// DefaultBoolWords returns true/false, yes/no, y/n, t/f and 1/0.
func DefaultBoolWords() BoolWords {
	return BoolWords{
		True:  []string{"true", "yes", "y", "t", "1"},
		False: []string{"false", "no", "n", "f", "0"},
	}
}

// Validate checks that both lists have words, that no word is empty and
// that no word means both true and false.
func (w BoolWords) Validate() error {
	if len(w.True) == 0 || len(w.False) == 0 {
		return fmt.Errorf("boolean words need at least one word for true and one for false")
	}
	for _, list := range [][]string{w.True, w.False} {
		for _, word := range list {
			if strings.TrimSpace(word) == "" {
				return fmt.Errorf("boolean words cannot include an empty word: an empty cell is NULL")
			}
		}
	}
	for _, t := range w.True {
		for _, f := range w.False {
			if strings.EqualFold(strings.TrimSpace(t), strings.TrimSpace(f)) {
				return fmt.Errorf("boolean word %q means both true and false", strings.TrimSpace(t))
			}
		}
	}
	return nil
}

// Parse returns the boolean that s names. The error lists the accepted
// words; a word in both lists is an error too.
func (w BoolWords) Parse(s string) (bool, error) {
	v := strings.TrimSpace(s)
	isTrue := v != "" && contains(w.True, v)
	isFalse := v != "" && contains(w.False, v)
	switch {
	case isTrue && isFalse:
		return false, fmt.Errorf("%q means both true and false in the boolean words", s)
	case isTrue:
		return true, nil
	case isFalse:
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean: expected %s for true, or %s for false",
		s, joinOr(trimAll(w.True)), joinOr(trimAll(w.False)))
}

// contains reports whether words has v, ignoring case and surrounding spaces.
func contains(words []string, v string) bool {
	for _, word := range words {
		if strings.EqualFold(strings.TrimSpace(word), v) {
			return true
		}
	}
	return false
}

func trimAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = strings.TrimSpace(w)
	}
	return out
}
