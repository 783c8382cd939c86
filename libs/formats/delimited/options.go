package delimited

import (
	"errors"
	"fmt"
)

const (
	// DefaultTargetChunkSize is the chunk size used when Options.TargetChunkSize is 0.
	DefaultTargetChunkSize = 256 << 10
	// DefaultMaxRecordSize is the record size limit used when Options.MaxRecordSize is 0.
	DefaultMaxRecordSize = 1 << 20
)

// Options describe the CSV dialect.
type Options struct {
	// Delimiter separates fields; ',' when 0.
	Delimiter byte
	// Quote starts and ends a quoted field; '"' when 0.
	Quote byte
	// TargetChunkSize is the chunk size in bytes: a chunk is closed at the
	// first record boundary at or after this size. 256 KiB when 0.
	TargetChunkSize int
	// MaxRecordSize is the largest record, in bytes without its line
	// terminator, that the Splitter accepts. 1 MiB when 0.
	MaxRecordSize int
}

// Validate reports whether the options describe a usable dialect.
func (o Options) Validate() error {
	o = o.withDefaults()
	var errs []error
	if o.Delimiter == '\n' || o.Delimiter == '\r' {
		errs = append(errs, fmt.Errorf("delimiter %q: a line terminator cannot separate fields", o.Delimiter))
	}
	if o.Quote == '\n' || o.Quote == '\r' {
		errs = append(errs, fmt.Errorf("quote %q: a line terminator cannot quote fields", o.Quote))
	}
	if o.Delimiter == o.Quote {
		errs = append(errs, fmt.Errorf("delimiter and quote are both %q", o.Delimiter))
	}
	if o.TargetChunkSize < 0 {
		errs = append(errs, fmt.Errorf("target chunk size %d: must not be negative", o.TargetChunkSize))
	}
	if o.MaxRecordSize < 0 {
		errs = append(errs, fmt.Errorf("max record size %d: must not be negative", o.MaxRecordSize))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delimited options: %w", err)
	}
	return nil
}

func (o Options) withDefaults() Options {
	if o.Delimiter == 0 {
		o.Delimiter = ','
	}
	if o.Quote == 0 {
		o.Quote = '"'
	}
	if o.TargetChunkSize == 0 {
		o.TargetChunkSize = DefaultTargetChunkSize
	}
	if o.MaxRecordSize == 0 {
		o.MaxRecordSize = DefaultMaxRecordSize
	}
	return o
}
