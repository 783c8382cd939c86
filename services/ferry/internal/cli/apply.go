package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

func setupApply(fs *flag.FlagSet) action {
	var files stringList
	fs.Var(&files, "f", "YAML `file` to apply, \"-\" for stdin; may be repeated")
	return func(ctx context.Context, s *session, _ []string) error {
		if len(files) == 0 {
			return usageErrorf("apply", "apply needs at least one -f FILE")
		}
		docs, errs, err := s.readResources(files)
		if err != nil {
			return err
		}
		if len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintf(s.stderr, "ferry: %v\n", e)
			}
			fmt.Fprintf(s.stderr, "ferry: apply: %s found; nothing was applied\n", plural(len(errs), "problem"))
			return &exitError{code: 1}
		}
		if len(docs) == 0 {
			names := slices.Clone(files)
			if i := slices.Index(names, "-"); i >= 0 {
				names[i] = "<stdin>"
			}
			return fmt.Errorf("apply: no documents in %s", strings.Join(names, ", "))
		}
		return s.apply(ctx, docs)
	}
}

// readResources reads and validates every document of every file. Problems
// with the documents come back as errs, all of them; err is a file that
// could not be read.
func (s *session) readResources(files []string) (docs []*document, errs []error, err error) {
	readStdin := false
	for _, name := range files {
		var data []byte
		if name == "-" {
			if readStdin {
				return nil, nil, usageErrorf("apply", `"-f -" can be given only once`)
			}
			readStdin = true
			name = "<stdin>"
			data, err = io.ReadAll(s.stdin)
		} else {
			data, err = os.ReadFile(name)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("apply: read %s: %w", name, err)
		}
		fileDocs, fileErrs := parseFile(name, data)
		docs = append(docs, fileDocs...)
		errs = append(errs, fileErrs...)
	}

	byRef := map[string]*document{}
	for _, doc := range docs {
		if first, ok := byRef[doc.ref()]; ok {
			errs = append(errs, &docError{doc: doc, msg: fmt.Sprintf("%s is also defined in %s", doc.ref(), first.where())})
			continue
		}
		byRef[doc.ref()] = doc
	}
	for _, doc := range docs {
		if doc.profile == nil {
			continue
		}
		if ds, ok := byRef[resourceRef(kindDataset, doc.profile.GetSpec().GetDataset())]; ok {
			errs = append(errs, checkProfileAgainst(doc, ds)...)
		}
	}
	return docs, errs, nil
}

// apply applies datasets first, so that profiles find theirs, and otherwise
// keeps the order of the files. It stops at the first error.
func (s *session) apply(ctx context.Context, docs []*document) error {
	c, err := s.clients()
	if err != nil {
		return err
	}
	ordered := slices.Clone(docs)
	slices.SortStableFunc(ordered, func(a, b *document) int {
		return kindOrder(a.kind) - kindOrder(b.kind)
	})
	for _, doc := range ordered {
		var outcome string
		switch doc.kind {
		case kindDataset:
			resp, err := c.datasets.ApplyDataset(ctx, &ferryv1.ApplyDatasetRequest{Dataset: doc.dataset})
			if err != nil {
				return fmt.Errorf("apply %s: %w", doc.ref(), err)
			}
			outcome = resp.GetOutcome()
		case kindImportProfile:
			resp, err := c.profiles.ApplyImportProfile(ctx, doc.profile)
			if err != nil {
				return fmt.Errorf("apply %s: %w", doc.ref(), err)
			}
			outcome = resp.GetOutcome()
		}
		if outcome == "" {
			outcome = "applied"
		}
		fmt.Fprintf(s.stdout, "%s %s\n", doc.ref(), outcome)
	}
	return nil
}

func kindOrder(kind string) int {
	if kind == kindDataset {
		return 0
	}
	return 1
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
