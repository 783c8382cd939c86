package cli

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/xref"
)

func setupXRefLoad(fs *flag.FlagSet) action {
	var replace, create, caseInsensitive bool
	fs.BoolVar(&replace, "replace", false, "remove the entries that are not in the file")
	fs.BoolVar(&create, "create", false, "create the table when it does not exist")
	fs.BoolVar(&caseInsensitive, "case-insensitive", false, "with --create: a table created now compares external values ignoring case and surrounding spaces")
	return func(ctx context.Context, s *session, args []string) error {
		name, file := args[0], args[1]
		if caseInsensitive && !create {
			return usageErrorf("xref load", "--case-insensitive applies only with --create")
		}
		entries, err := s.readEntries(file)
		if err != nil {
			return fmt.Errorf("xref load: %w", err)
		}
		c, err := s.clients()
		if err != nil {
			return err
		}
		ref := resourceRef(kindCrossReference, name)
		// The whole file is one request, so that a load applies whole or not at all.
		resp, err := c.xrefs.PutCrossReferenceEntries(ctx, &ferryv1.PutCrossReferenceEntriesRequest{Name: name, Entries: entries, Replace: replace})
		if status.Code(err) == codes.NotFound && create {
			applied, aerr := c.xrefs.ApplyCrossReference(ctx, &ferryv1.ApplyCrossReferenceRequest{
				CrossReference: &ferryv1.CrossReference{Name: name, CaseInsensitive: caseInsensitive, Entries: entries},
			})
			if aerr != nil {
				return fmt.Errorf("create %s: %w", ref, aerr)
			}
			x := applied.GetCrossReference()
			fmt.Fprintf(s.stdout, "%s %s: %s entries, version %d\n", ref, applied.GetOutcome(), count(x.GetEntryCount()), x.GetVersion())
			return nil
		}
		if err != nil {
			if status.Code(err) == codes.NotFound {
				return fmt.Errorf("load %s: %w (--create creates it)", ref, err)
			}
			return fmt.Errorf("load %s: %w", ref, err)
		}
		x := resp.GetCrossReference()
		fmt.Fprintf(s.stdout, "%s loaded: %d added, %d changed, %d removed; %s entries, version %d\n",
			ref, resp.GetAdded(), resp.GetChanged(), resp.GetRemoved(), count(x.GetEntryCount()), x.GetVersion())
		return nil
	}
}

func setupXRefLookup(fs *flag.FlagSet) action {
	var (
		reverse bool
		output  string
	)
	fs.BoolVar(&reverse, "reverse", false, "translate internal values to external ones")
	fs.StringVar(&output, "o", "table", "output `format`: table or json")
	return func(ctx context.Context, s *session, args []string) error {
		if output != "table" && output != "json" {
			return usageErrorf("xref lookup", "-o %s: unknown format (want table or json)", output)
		}
		name := args[0]
		req := &ferryv1.LookupCrossReferenceRequest{Name: name, Direction: ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_INTERNAL, Values: args[1:]}
		column := "INTERNAL"
		if reverse {
			req.Direction, column = ferryv1.LookupDirection_LOOKUP_DIRECTION_TO_EXTERNAL, "EXTERNAL"
		}
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.xrefs.LookupCrossReference(ctx, req)
		if err != nil {
			return fmt.Errorf("look up in cross-reference %s: %w", name, err)
		}
		if output == "json" {
			if err := s.printJSON(resp); err != nil {
				return err
			}
		} else {
			t := newTable(s.stdout, "VALUE", column)
			for _, r := range resp.GetResults() {
				t.row(r.GetValue(), r.GetResult())
			}
			if err := t.flush(); err != nil {
				return err
			}
		}
		// Like grep, a value that was not translated makes the status 1.
		failed := false
		for _, r := range resp.GetResults() {
			switch {
			case !r.GetFound():
				fmt.Fprintf(s.stderr, "ferry: %q is not in cross-reference %s\n", r.GetValue(), name)
				failed = true
			case r.GetError() != "":
				fmt.Fprintf(s.stderr, "ferry: %s\n", r.GetError())
				failed = true
			}
		}
		if failed {
			return &exitError{code: 1}
		}
		return nil
	}
}

// readEntries reads entries from a CSV file, "-" for stdin.
func (s *session) readEntries(file string) ([]*ferryv1.CrossReferenceEntry, error) {
	if file == "-" {
		return parseEntries(stdinName, s.stdin)
	}
	return readEntriesFile(file)
}

func readEntriesFile(path string) ([]*ferryv1.CrossReferenceEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read entries: %w", err)
	}
	defer f.Close()
	return parseEntries(path, f)
}

// parseEntries reads a CSV with the header external,internal or
// external,internal,primary. Values are kept exactly as written.
func parseEntries(name string, r io.Reader) ([]*ferryv1.CrossReferenceEntry, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s is empty; want a header external,internal[,primary]", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	got := make([]string, len(header))
	for i, h := range header {
		got[i] = strings.ToLower(strings.TrimSpace(h))
	}
	if g := strings.Join(got, ","); g != "external,internal" && g != "external,internal,primary" {
		return nil, fmt.Errorf("%s: the header is %q; want external,internal or external,internal,primary", name, strings.Join(header, ","))
	}
	cr.FieldsPerRecord = len(header)
	var out []*ferryv1.CrossReferenceEntry
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		e := &ferryv1.CrossReferenceEntry{External: rec[0], Internal: rec[1]}
		if len(rec) == 3 {
			p, ok := parsePrimary(rec[2])
			if !ok {
				line, _ := cr.FieldPos(2)
				return nil, fmt.Errorf("%s: line %d: primary %q: want true or false (or yes/no, 1/0, or empty for false)", name, line, rec[2])
			}
			e.Primary = p
		}
		if len(out) == xref.MaxEntriesPerRequest {
			return nil, fmt.Errorf("%s has more than %d entries, the most one load carries; load it in parts without --replace", name, xref.MaxEntriesPerRequest)
		}
		out = append(out, e)
	}
	return out, nil
}

func parsePrimary(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "false", "no", "n", "f", "0":
		return false, true
	case "true", "yes", "y", "t", "1":
		return true, true
	}
	return false, false
}
