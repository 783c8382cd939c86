package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/charmap"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/testkit"
)

// TestSniff proposes how to read files, through the CLI and the RPC, and the
// proposal read back by `ferry apply` imports the file.
func TestSniff(t *testing.T) {
	db := testkit.Database(t, true)
	srv := startServer(t, nil, "--database-url", db, "--data-dir", t.TempDir())
	c := dial(t, srv.GRPCAddr, srv.Key)

	// A Windows-1252 bank export: a preamble, then a semicolon table.
	text := "Kontoauszug;Girokonto\r\nZeitraum;März 2024\r\n\r\nBuchungstag;Empfänger;Betrag;Referenz\r\n" +
		"15.03.2024;Stadtwerke München;-45,00;R1\r\n16.03.2024;Café Zoë;-3,20;R2\r\n17.03.2024;Gehalt;2500,00;R3\r\n"
	latin, err := charmap.Windows1252.NewEncoder().String(text)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "konto.csv")
	require.NoError(t, os.WriteFile(path, []byte(latin), 0o600))

	out, errOut, code := runCLI(t, srv.GRPCAddr, srv.Key, "sniff", path)
	require.Zero(t, code, errOut)
	require.Contains(t, out, "encoding:  windows-1252")
	require.Contains(t, out, `delimiter: ";"`)
	require.Contains(t, out, "header:    row 4")
	require.Contains(t, out, "Stadtwerke München")
	require.Contains(t, out, "Café Zoë")

	// The YAML proposal, given a dataset, applies and imports the file.
	out, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "sniff", path, "-o", "yaml")
	require.Zero(t, code, errOut)
	require.Contains(t, out, "kind: ImportProfile")
	profile := strings.Replace(out, "dataset: CHANGE-ME", "dataset: konto", 1)
	doc := `apiVersion: ferry.dev/v1
kind: Dataset
metadata: {name: konto}
spec:
  fields: [{name: buchungstag, type: string}, {name: empf_nger, type: string}, {name: betrag, type: string}, {name: referenz, type: string}]
  key: [referenz]
---
` + profile
	res := filepath.Join(t.TempDir(), "konto.yaml")
	require.NoError(t, os.WriteFile(res, []byte(doc), 0o600))
	_, errOut, code = runCLI(t, srv.GRPCAddr, srv.Key, "apply", "-f", res)
	require.Zero(t, code, errOut+"\n"+doc)
	run := importFile(t, c, srv.GRPCAddr, srv.Key, "konto", path)
	require.Equal(t, ferryv1.RunStatus_RUN_STATUS_SUCCEEDED, run.GetStatus(), run.GetError())
	requireCounts(t, run, 3, 3, 0, 0, 0)
	var who string
	require.NoError(t, queryRow(t, db, `SELECT empf_nger FROM tenant_default.konto WHERE referenz = 'R2'`, &who))
	require.Equal(t, "Café Zoë", who)

	// A workbook: its sheets are listed and the first visible one is read.
	resp, err := c.Ing.Sniff(c.ctx(t), &ferryv1.SniffRequest{FileName: "x.xlsx", Sample: mustRead(t, filepath.Join(corpusDir, "57-xlsx-hidden-sheet-by-name", "input.xlsx"))})
	require.NoError(t, err)
	require.Equal(t, ferryv1.FileFormat_FILE_FORMAT_XLSX, resp.GetProposed().GetFormat())
	require.NotEmpty(t, resp.GetSheets())
	require.NotEmpty(t, resp.GetHeader())

	// An override wins over what is sniffed.
	resp, err = c.Ing.Sniff(c.ctx(t), &ferryv1.SniffRequest{Sample: []byte(latin), Spec: &ferryv1.ImportProfileSpec{Csv: &ferryv1.CSVFormat{Encoding: "utf-8"}}})
	require.NoError(t, err)
	require.Equal(t, "utf-8", resp.GetProposed().GetCsv().GetEncoding())

	// Binary content is refused with the reason.
	_, err = c.Ing.Sniff(c.ctx(t), &ferryv1.SniffRequest{Sample: []byte("%PDF-1.7\n\x00\x01\x02")})
	require.ErrorContains(t, err, "PDF")
}

func mustRead(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}
