package values

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBoolWordsParse(t *testing.T) {
	custom := BoolWords{True: []string{"Ja", "X"}, False: []string{"Nein", " - "}}
	tests := []struct {
		name  string
		words BoolWords
		value string
		want  bool
		err   string
	}{
		{name: "true", words: DefaultBoolWords(), value: "true", want: true},
		{name: "TRUE", words: DefaultBoolWords(), value: "TRUE", want: true},
		{name: "yes padded", words: DefaultBoolWords(), value: "  Yes ", want: true},
		{name: "y", words: DefaultBoolWords(), value: "y", want: true},
		{name: "t", words: DefaultBoolWords(), value: "T", want: true},
		{name: "1", words: DefaultBoolWords(), value: "1", want: true},
		{name: "false", words: DefaultBoolWords(), value: "False", want: false},
		{name: "no", words: DefaultBoolWords(), value: "no", want: false},
		{name: "n", words: DefaultBoolWords(), value: "N", want: false},
		{name: "f", words: DefaultBoolWords(), value: "f", want: false},
		{name: "0", words: DefaultBoolWords(), value: "0", want: false},
		{name: "custom true", words: custom, value: "ja", want: true},
		{name: "custom false trimmed word", words: custom, value: "-", want: false},
		{name: "unknown", words: DefaultBoolWords(), value: "maybe",
			err: `"maybe" is not a boolean: expected true, yes, y, t or 1 for true, or false, no, n, f or 0 for false`},
		{name: "empty", words: DefaultBoolWords(), value: "", err: `"" is not a boolean`},
		{name: "spaces", words: DefaultBoolWords(), value: "  ", err: `"  " is not a boolean`},
		{name: "default word not in custom", words: custom, value: "yes", err: `"yes" is not a boolean: expected Ja or X for true, or Nein or - for false`},
		{name: "word in both lists", words: BoolWords{True: []string{"x"}, False: []string{"X"}}, value: "x", err: `"x" means both true and false in the boolean words`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.words.Parse(tt.value)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBoolWordsValidate(t *testing.T) {
	tests := []struct {
		name  string
		words BoolWords
		err   string
	}{
		{name: "default", words: DefaultBoolWords()},
		{name: "custom", words: BoolWords{True: []string{"on"}, False: []string{"off"}}},
		{name: "no true words", words: BoolWords{False: []string{"no"}}, err: "boolean words need at least one word for true and one for false"},
		{name: "no false words", words: BoolWords{True: []string{"yes"}}, err: "boolean words need at least one word for true and one for false"},
		{name: "empty word", words: BoolWords{True: []string{"yes", " "}, False: []string{"no"}}, err: "boolean words cannot include an empty word: an empty cell is NULL"},
		{name: "word in both", words: BoolWords{True: []string{"yes", "X"}, False: []string{"no", " x "}}, err: `boolean word "X" means both true and false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.words.Validate()
			if tt.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tt.err)
		})
	}
}
