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
