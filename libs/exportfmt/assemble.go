package exportfmt

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/formats/outfile"
)

// Objects is where parts are read from and files written to.
type Objects interface {
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// Put stores what r holds under name, replacing what was there.
	Put(ctx context.Context, name string, r io.Reader) error
}

// HashingObjects is Objects whose store computes the SHA-256 of what it
// stores (the JetStream object store does): assembly takes the file's
// digest from PutHashed instead of hashing every byte a second time.
type HashingObjects interface {
	Objects
	// PutHashed stores what r holds under name, like Put, and returns its SHA-256.
	PutHashed(ctx context.Context, name string, r io.Reader) ([]byte, error)
}

// FailedError is why a run's files cannot be written: writing them again
// gives the same answer, so the run fails with it.
type FailedError struct{ Msg string }

func (e *FailedError) Error() string { return e.Msg }

// Assembled is what Assemble wrote.
type Assembled struct {
	Outputs []*ferryv1.RunOutput
	// Objects are the object-store names written, also on failure.
	Objects []string
	// RowsRead counts the rows read, written to a file or not.
	RowsRead int64
	// Replaced counts characters replaced because the encoding cannot hold them.
	Replaced int64
}

// Assemble writes the files of a run's plan from its formatted batches,
// which must be every batch of one read attempt, sorted by query, range and
// seq: CSV and JSONL parts are concatenated after the header, XLSX cells
// go through one streaming writer. Row numbers in errors count the rows of
// the file's query in read order.
func Assemble(ctx context.Context, run string, plan *Plan, batches []*ferryv1.ExportPartReady, objs Objects) (Assembled, error) {
	var out Assembled
	base := make([]int64, len(batches))
	sums := map[int32]int64{}
	for i, b := range batches {
		base[i] = sums[b.GetQuery()]
		sums[b.GetQuery()] += b.GetRowsRead()
		out.RowsRead += b.GetRowsRead()
	}
	for i, b := range batches {
		switch {
		case b.GetError() != "" && b.GetErrorRow() > 0:
			return out, &FailedError{Msg: fmt.Sprintf("%srow %d, %s", filePrefix(plan, int(b.GetQuery())), base[i]+b.GetErrorRow(), b.GetError())}
		case b.GetError() != "":
			// Not about a row: the template could not be compiled.
			return out, &FailedError{Msg: filePrefix(plan, int(b.GetQuery())) + b.GetError()}
		}
	}
	a := &assembly{ctx: ctx, run: run, plan: plan, batches: batches, base: base, objs: objs}
	if plan.Zip != "" {
		meta := &ferryv1.RunOutput{Name: plan.Zip, Role: "archive", ContentType: "application/zip", Format: "zip"}
		out.Objects = append(out.Objects, OutputObject(run, plan.Zip))
		err := a.put(meta, func(w io.Writer) error {
			zw := zip.NewWriter(w)
			for fi := range plan.Files {
				entry, err := zw.Create(plan.Files[fi].Name)
				if err != nil {
					return err
				}
				rows, replaced, err := a.file(entry, fi)
				meta.Rows += rows
				out.Replaced += replaced
				if err != nil {
					return err
				}
			}
			return zw.Close()
		})
		if err != nil {
			return out, err
		}
		out.Outputs = append(out.Outputs, meta)
		return out, nil
	}
	for fi, f := range plan.Files {
		meta := &ferryv1.RunOutput{Name: f.Name, Role: f.Role, ContentType: plan.ContentType, Format: plan.Extension}
		out.Objects = append(out.Objects, OutputObject(run, f.Name))
		err := a.put(meta, func(w io.Writer) error {
			rows, replaced, err := a.file(w, fi)
			meta.Rows = rows
			out.Replaced += replaced
			return err
		})
		if err != nil {
			return out, err
		}
		out.Outputs = append(out.Outputs, meta)
	}
	return out, nil
}

// filePrefix names the file of query q in a message, when a run has several.
func filePrefix(plan *Plan, q int) string {
	if !plan.bundle {
		return ""
	}
	return plan.Files[q].Name + ": "
}

type assembly struct {
	ctx     context.Context
	run     string
	plan    *Plan
	batches []*ferryv1.ExportPartReady
	base    []int64
	objs    Objects
}

// hashWriter counts and, with h set, hashes what goes through it.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (h *hashWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	if h.h != nil {
		h.h.Write(p[:n])
	}
	h.n += int64(n)
	return n, err
}

// put streams what write writes into the output object of meta and records
// its size and sha256.
func (a *assembly) put(meta *ferryv1.RunOutput, write func(io.Writer) error) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	hobjs, hashing := a.objs.(HashingObjects)
	var sum []byte
	go func() {
		var err error
		if hashing {
			sum, err = hobjs.PutHashed(a.ctx, OutputObject(a.run, meta.GetName()), pr)
		} else {
			err = a.objs.Put(a.ctx, OutputObject(a.run, meta.GetName()), pr)
		}
		pr.CloseWithError(err)
		done <- err
	}()
	hw := &hashWriter{w: pw}
	if !hashing {
		hw.h = sha256.New()
	}
	bw := bufio.NewWriterSize(hw, 256<<10)
	werr := write(bw)
	if werr == nil {
		werr = bw.Flush()
	}
	pw.CloseWithError(werr)
	perr := <-done
	if werr != nil {
		return werr
	}
	if perr != nil {
		return fmt.Errorf("store %s: %w", meta.GetName(), perr)
	}
	if !hashing {
		sum = hw.h.Sum(nil)
	}
	meta.Size, meta.Sha256 = hw.n, hex.EncodeToString(sum)
	return nil
}

// prefetch is how many parts are read at once ahead of the one being
// written: each read of the object store waits for a consumer to be set up
// and the part to arrive, so reads overlap each other and the writing, and
// memory stays bounded by prefetch parts.
const prefetch = 8

// parts calls fn for every batch part of file fi, in order, with the
// batch's row base. Parts are read from the object store ahead of fn.
func (a *assembly) parts(fi int, fn func(pf *ferryv1.ExportPartFile, base int64, data []byte) error) error {
	type item struct {
		batch int
		pf    *ferryv1.ExportPartFile
	}
	var list []item
	for i, b := range a.batches {
		for _, pf := range b.GetFiles() {
			if int(pf.GetFile()) == fi {
				list = append(list, item{i, pf})
			}
		}
	}
	type read struct {
		data []byte
		err  error
	}
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	fetch := func(it item) (r read) {
		if it.pf.GetBytes() == 0 {
			return r
		}
		b := a.batches[it.batch]
		rc, err := a.objs.Get(ctx, PartObject(a.run, b.GetAttempt(), b.GetQuery(), b.GetRange(), b.GetSeq(), it.pf.GetFile()))
		if err != nil {
			r.err = fmt.Errorf("read part %d-%d-%d: %w", b.GetQuery(), b.GetRange(), b.GetSeq(), err)
			return r
		}
		defer rc.Close()
		buf := bytes.NewBuffer(make([]byte, 0, it.pf.GetBytes()+bytes.MinRead))
		_, r.err = buf.ReadFrom(rc)
		r.data = buf.Bytes()
		return r
	}
	// In order: one result channel per part, queued as its read starts.
	ready := make(chan chan read, prefetch)
	go func() {
		defer close(ready)
		for _, it := range list {
			res := make(chan read, 1)
			select {
			case ready <- res:
			case <-ctx.Done():
				return
			}
			go func() { res <- fetch(it) }()
		}
	}()
	for _, it := range list {
		res, ok := <-ready
		if !ok {
			return ctx.Err()
		}
		r := <-res
		if r.err != nil {
			return r.err
		}
		if err := fn(it.pf, a.base[it.batch], r.data); err != nil {
			return err
		}
	}
	return nil
}

// file writes file fi to w.
func (a *assembly) file(w io.Writer, fi int) (rows, replaced int64, err error) {
	f := a.plan.Files[fi]
	prefix := filePrefix(a.plan, f.Query)
	if a.plan.Options.Format == outfile.XLSX {
		return a.xlsx(w, fi, prefix)
	}
	hw, err := outfile.New(w, f.Cols, a.plan.Options)
	if err != nil {
		return 0, 0, &FailedError{Msg: prefix + err.Error()}
	}
	stats, err := hw.Close()
	if err != nil {
		return 0, 0, err
	}
	replaced = stats.Replaced
	var bad *outfile.UnencodableError
	err = a.parts(fi, func(pf *ferryv1.ExportPartFile, base int64, data []byte) error {
		rows += pf.GetRows()
		replaced += pf.GetReplaced()
		if u := pf.GetUnencodable(); u.GetCount() > 0 {
			if bad == nil {
				bad = &outfile.UnencodableError{}
			}
			bad.Add(&outfile.UnencodableError{Encoding: u.GetEncoding(), Rows: u.GetRows(), Columns: u.GetColumns(),
				Count: u.GetCount(), Example: rune(u.GetExample())}, base)
		}
		if bad != nil {
			// The file fails: the other parts are only checked.
			return nil
		}
		if int64(len(data)) != pf.GetBytes() {
			return fmt.Errorf("part of %d bytes holds %d", pf.GetBytes(), len(data))
		}
		_, err := w.Write(data)
		return err
	})
	if err == nil && bad != nil {
		err = &FailedError{Msg: prefix + bad.Error()}
	}
	return rows, replaced, err
}

// xlsx writes file fi as one workbook through one streaming writer.
func (a *assembly) xlsx(w io.Writer, fi int, prefix string) (rows, replaced int64, err error) {
	xw, err := outfile.New(w, a.plan.Files[fi].Cols, a.plan.Options)
	if err != nil {
		return 0, 0, &FailedError{Msg: prefix + err.Error()}
	}
	var cells []outfile.Value
	err = a.parts(fi, func(pf *ferryv1.ExportPartFile, base int64, data []byte) error {
		var err error
		for len(data) > 0 {
			var row int64
			row, cells, data, err = NextCells(data, cells)
			if err != nil {
				return err
			}
			if err := xw.WriteRow(base+row, cells); err != nil {
				var ce *outfile.CellError
				var ue *outfile.UnencodableError
				switch {
				case errors.As(err, &ue):
				case errors.As(err, &ce):
					return &FailedError{Msg: prefix + ce.Error()}
				default:
					return err
				}
			}
		}
		return nil
	})
	stats, cerr := xw.Close()
	if err == nil {
		var ue *outfile.UnencodableError
		if errors.As(cerr, &ue) {
			cerr = &FailedError{Msg: prefix + ue.Error()}
		}
		err = cerr
	}
	return stats.Rows, stats.Replaced, err
}

// UnencodableRows is e in its wire form.
func UnencodableRows(e *outfile.UnencodableError) *ferryv1.UnencodableRows {
	if e == nil {
		return nil
	}
	return &ferryv1.UnencodableRows{Encoding: e.Encoding, Rows: e.Rows, Columns: e.Columns, Count: e.Count, Example: int32(e.Example)}
}
