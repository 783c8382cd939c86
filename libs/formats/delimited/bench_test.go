package delimited

import (
	"bytes"
	"io"
	"testing"
)

func BenchmarkSplitter(b *testing.B) {
	for _, bb := range []struct {
		name  string
		plain bool
	}{{"quoted", false}, {"plain", true}} {
		data := generate(10<<20, bb.plain)
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				s := NewSplitter(bytes.NewReader(data), Options{})
				if _, err := s.Header(); err != nil {
					b.Fatal(err)
				}
				for {
					_, err := s.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkReader(b *testing.B) {
	for _, bb := range []struct {
		name  string
		plain bool
	}{{"quoted", false}, {"plain", true}} {
		data := generate(10<<20, bb.plain)
		s := NewSplitter(bytes.NewReader(data), Options{})
		if _, err := s.Header(); err != nil {
			b.Fatal(err)
		}
		var chunks []Chunk
		for {
			c, err := s.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			chunks = append(chunks, c)
		}
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				for _, c := range chunks {
					r := NewReader(c.Data, c.FirstRow, Options{})
					for {
						_, _, err := r.Next()
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		})
	}
}

// BenchmarkOptions splits and reads the quoted data of BenchmarkSplitter and
// BenchmarkReader with the options that are off by default, to compare.
func BenchmarkOptions(b *testing.B) {
	data := generate(10<<20, false)
	for _, bb := range []struct {
		name string
		opts Options
	}{
		{"backslash", Options{Escape: EscapeBackslash}},
		{"comment", Options{Comment: '#'}},
		{"trailing delimiter", Options{TrailingDelimiter: true}},
		{"tight limits", Options{MaxFieldSize: 64, MaxColumns: 7}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				s := NewSplitter(bytes.NewReader(data), bb.opts)
				if _, err := s.Header(); err != nil {
					b.Fatal(err)
				}
				for {
					c, err := s.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					r := NewReader(c.Data, c.FirstRow, bb.opts)
					for {
						_, _, err := r.Next()
						if err == io.EOF {
							break
						}
						if err != nil {
							b.Fatal(err)
						}
					}
				}
			}
		})
	}
}
