package delimited

import "testing"

// FuzzSplitRead checks that splitting any input and reading the chunks gives
// the same records, row numbers and errors as one reader over the whole input,
// for every dialect and option.
func FuzzSplitRead(f *testing.F) {
	for _, in := range splitInputs {
		f.Add([]byte(in.input), uint16(3), uint8(min(in.opts.MaxRecordSize, 255)), uint8(0), fuzzExtra(in.opts))
	}
	f.Add([]byte("a,b\r\n\"x\r\n\"\"y\",z\r\r\n\n\"q"), uint16(1), uint8(6), uint8(0), uint16(0))
	f.Add([]byte("\xEF\xBB\xBF'a';b\r'c\r\n';'d''e'\n"), uint16(2), uint8(0), uint8(1), uint16(0))
	f.Add([]byte("h\tx\n\"1\t2\"\t3\n\n"), uint16(5), uint8(4), uint8(2), uint16(0))
	f.Add([]byte("ab\nbab\nabba\r\n"), uint16(1), uint8(2), uint8(3), uint16(0))
	f.Add([]byte("#c\"\nh,\"a\\\"\n,\"\n1,\\\"\n"), uint16(2), uint8(9), uint8(0), uint16(fuzzBackslash|fuzzComment|fuzzTrailing))
	f.Add([]byte("x\n\n#\n1,2,3,4\n5,6\n"), uint16(4), uint8(0), uint8(0), uint16(fuzzNoHeader|fuzzComment|2<<fuzzHeaderRowShift|1<<fuzzColumnsShift))
	f.Fuzz(func(t *testing.T, data []byte, target uint16, maxRecord uint8, dialect uint8, extra uint16) {
		opts := Options{TargetChunkSize: 1 + int(target)%512, MaxRecordSize: int(maxRecord)}
		switch dialect % 4 {
		case 1:
			opts.Delimiter, opts.Quote = ';', '\''
		case 2:
			opts.Delimiter = '\t'
		case 3:
			opts.Delimiter, opts.Quote = 'a', 'b'
		}
		fuzzOptions(&opts, extra)
		checkSplitRead(t, data, opts)
	})
}

// Bits of the fuzz target's extra argument that set the options that are
// off by default.
const (
	fuzzBackslash = 1 << iota
	fuzzComment
	fuzzTrailing
	fuzzNoHeader
	fuzzHeaderRowShift = 4 // 2 bits: HeaderRow 0..3
	fuzzFieldShift     = 6 // 4 bits: MaxFieldSize 0..15, capped by MaxRecordSize
	fuzzColumnsShift   = 10
	// 3 bits: MaxColumns 0..7
)

// fuzzExtra returns the extra argument that sets about opts.
func fuzzExtra(o Options) uint16 {
	var extra uint16
	if o.Escape == EscapeBackslash {
		extra |= fuzzBackslash
	}
	if o.Comment != 0 {
		extra |= fuzzComment
	}
	if o.TrailingDelimiter {
		extra |= fuzzTrailing
	}
	if o.NoHeader {
		extra |= fuzzNoHeader
	}
	extra |= uint16(min(o.HeaderRow, 3)) << fuzzHeaderRowShift
	extra |= uint16(min(o.MaxFieldSize, 15)) << fuzzFieldShift
	extra |= uint16(min(o.MaxColumns, 7)) << fuzzColumnsShift
	return extra
}

// fuzzOptions sets the options that extra selects. The comment character is
// one that the dialect does not use otherwise.
func fuzzOptions(o *Options, extra uint16) {
	if extra&fuzzBackslash != 0 {
		o.Escape = EscapeBackslash
	}
	if extra&fuzzComment != 0 {
		o.Comment = '#'
		if o.Delimiter == 'a' {
			o.Comment = 'x'
		}
	}
	o.TrailingDelimiter = extra&fuzzTrailing != 0
	o.NoHeader = extra&fuzzNoHeader != 0
	o.HeaderRow = int(extra>>fuzzHeaderRowShift) & 3
	o.MaxFieldSize = int(extra>>fuzzFieldShift) & 15
	if o.MaxRecordSize > 0 {
		o.MaxFieldSize = min(o.MaxFieldSize, o.MaxRecordSize)
	}
	o.MaxColumns = int(extra>>fuzzColumnsShift) & 7
}

// FuzzSniffDialect checks that SniffDialect accepts any sample and proposes
// options that the Splitter accepts.
func FuzzSniffDialect(f *testing.F) {
	for _, s := range []string{excelCSV, europeanExcel, tsv, pipes, bankExport, paddedBankExport, headerlessNumbers, mysqlDump, commented, hashTags, ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, sample []byte) {
		d := SniffDialect(sample)
		if d.Confidence < 0 || d.Confidence > 1 || d.Reason == "" || d.HeaderRow < 1 {
			t.Fatalf("dialect %+v", d)
		}
		opts := Options{Delimiter: d.Delimiter, Quote: d.Quote, Escape: d.Escape, Comment: d.Comment, HeaderRow: d.HeaderRow, NoHeader: d.NoHeader}
		if err := opts.Validate(); err != nil {
			t.Fatalf("dialect %+v: %v", d, err)
		}
	})
}
