package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/testkit"
)

// repeatReader yields prefix, then fill bytes until n bytes in all.
type repeatReader struct {
	prefix []byte
	fill   byte
	n      int64
	off    int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.off >= r.n {
		return 0, io.EOF
	}
	i := 0
	for ; i < len(p) && r.off < r.n; i++ {
		if r.off < int64(len(r.prefix)) {
			p[i] = r.prefix[r.off]
		} else {
			p[i] = r.fill
		}
		r.off++
	}
	return i, nil
}

// uploadStream uploads r through the gRPC API and returns the run id. The
// server may end the stream early for a file it refuses.
func uploadStream(t *testing.T, c *client, profile, name string, r io.Reader) (string, int64) {
	st, err := c.Ing.Upload(c.ctx(t))
	require.NoError(t, err)
	require.NoError(t, st.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Header{Header: &ferryv1.UploadHeader{Profile: profile, FileName: name}}}))
	buf := make([]byte, 256<<10)
	var sent int64
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := st.Send(&ferryv1.UploadRequest{Part: &ferryv1.UploadRequest_Data{Data: buf[:n]}}); err != nil {
				require.ErrorIs(t, err, io.EOF)
				break
			}
			sent += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		require.NoError(t, rerr)
	}
	resp, err := st.CloseAndRecv()
	require.NoError(t, err)
	return resp.GetRun().GetId(), sent
}

// TestHostileTextFails: a 1 GB line without a newline and a 100 MB field
// fail fast with the limit named, without the server reading the rest.
func TestHostileTextFails(t *testing.T) {
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)
	applyResources(t, srv.GRPCAddr, srv.Key)
	head := strings.Join(header, ",") + "\n"
	tests := []struct {
		name   string
		r      io.Reader
		reason string
	}{
		{"1 GB line", &repeatReader{prefix: []byte(head), fill: 'x', n: 1 << 30}, "record limit"},
		{"100 MB field", &repeatReader{prefix: []byte(head + `0000001,"`), fill: 'y', n: 100 << 20}, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, sent := uploadStream(t, c, "students-csv", "hostile.csv", tt.r)
			run := c.waitRun(t, id, time.Minute)
			require.Equal(t, ferryv1.RunStatus_RUN_STATUS_FAILED, run.GetStatus())
			require.Contains(t, run.GetError(), tt.reason)
			require.Less(t, sent, int64(64<<20), "the server stopped reading early")
		})
	}
	require.Zero(t, countRows(t, db, "tenant_default.students"))
}

// TestMillionRowXLSX imports a 1 000 000-row workbook made by the test.
func TestMillionRowXLSX(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a 1 000 000-row workbook")
	}
	const n = 1_000_000
	path := filepath.Join(t.TempDir(), "big.xlsx")
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	require.NoError(t, err)
	require.NoError(t, sw.SetRow("A1", []any{"Student ID", "Name", "Grade"}))
	for i := 1; i <= n; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		require.NoError(t, sw.SetRow(cell, []any{fmt.Sprintf("%07d", i), fmt.Sprintf("Student %d", i), i % 12}))
	}
	require.NoError(t, sw.Flush())
	require.NoError(t, f.SaveAs(path))
	require.NoError(t, f.Close())

	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)
	doc := `apiVersion: ferry.dev/v1
kind: Dataset
metadata: {name: big}
spec:
  fields: [{name: id, type: string}, {name: name, type: string}, {name: grade, type: integer}]
  key: [id]
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: big}
spec:
  dataset: big
  format: xlsx
  mappings: [{field: id, column: Student ID}, {field: name, column: Name}, {field: grade, column: Grade}]
`
	res := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, writeFile(res, doc))
	_, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", res)
	require.Zero(t, code, errOut)
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "big", path)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	requireCounts(t, run, n, n, 0, 0, 0)
	require.Equal(t, n, countRows(t, db, "tenant_default.big"))
	var id string
	require.NoError(t, queryRow(t, db, `SELECT id FROM tenant_default.big WHERE name = 'Student 42'`, &id))
	require.Equal(t, "0000042", id)
}

func queryRow(t *testing.T, db, sql string, dst ...any) error {
	conn, err := pgxConnect(db)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	return conn.QueryRow(context.Background(), sql).Scan(dst...)
}
