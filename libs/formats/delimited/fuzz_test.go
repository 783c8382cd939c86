package delimited

import "testing"

// FuzzSplitRead checks that splitting any input and reading the chunks gives
// the same records, row numbers and errors as one reader over the whole input.
func FuzzSplitRead(f *testing.F) {
	for _, in := range splitInputs {
		f.Add([]byte(in.input), uint16(3), uint8(0), uint8(0))
	}
	f.Add([]byte("a,b\r\n\"x\r\n\"\"y\",z\r\r\n\n\"q"), uint16(1), uint8(6), uint8(0))
	f.Add([]byte("\xEF\xBB\xBF'a';b\r'c\r\n';'d''e'\n"), uint16(2), uint8(0), uint8(1))
	f.Add([]byte("h\tx\n\"1\t2\"\t3\n\n"), uint16(5), uint8(4), uint8(2))
	f.Add([]byte("ab\nbab\nabba\r\n"), uint16(1), uint8(2), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, target uint16, maxRecord uint8, dialect uint8) {
		opts := Options{TargetChunkSize: 1 + int(target)%512, MaxRecordSize: int(maxRecord)}
		switch dialect % 4 {
		case 1:
			opts.Delimiter, opts.Quote = ';', '\''
		case 2:
			opts.Delimiter = '\t'
		case 3:
			opts.Delimiter, opts.Quote = 'a', 'b'
		}
		checkSplitRead(t, data, opts)
	})
}
