package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

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
	dry := fs.Bool("dry-run", false, "check the documents against the server and say what applying them would do, saving nothing")
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
				names[i] = stdinName
			}
			return fmt.Errorf("apply: no documents in %s", strings.Join(names, ", "))
		}
		if *dry {
			return s.dryApply(ctx, docs)
		}
		return s.apply(ctx, docs)
	}
}

// dryApply says what applying docs would do. Import profiles are checked by
// the server exactly as applying them would (ValidateImportProfile), unless
// their dataset is created by the same documents; datasets, cross-reference
// tables, templates and export profiles are compared with what is stored.
func (s *session) dryApply(ctx context.Context, docs []*document) error {
	c, err := s.clients()
	if err != nil {
		return err
	}
	created := map[string]bool{}     // datasets
	createdDest := map[string]bool{} // destinations
	for _, doc := range docs {
		outcome := ""
		switch doc.kind {
		case kindDataset:
			resp, err := c.datasets.GetDataset(ctx, &ferryv1.GetDatasetRequest{Name: doc.name})
			switch {
			case status.Code(err) == codes.NotFound:
				outcome, created[doc.name] = "would be created", true
			case err != nil:
				return fmt.Errorf("check %s: %w", doc.ref(), err)
			case sameDataset(resp.GetDataset(), doc.dataset):
				outcome = "unchanged"
			default:
				outcome = "would be updated (the server checks the change when it is applied)"
			}
		case kindCrossReference:
			_, err := c.xrefs.GetCrossReference(ctx, &ferryv1.GetCrossReferenceRequest{Name: doc.name})
			switch {
			case status.Code(err) == codes.NotFound:
				outcome = "would be created"
			case err != nil:
				return fmt.Errorf("check %s: %w", doc.ref(), err)
			default:
				outcome = "would be applied"
			}
		case kindTemplate:
			resp, err := c.exports.GetTemplate(ctx, &ferryv1.GetTemplateRequest{Name: doc.name})
			if outcome, err = compareStored(err, resp.GetTemplate().GetSpec(), doc.tmpl.GetSpec()); err != nil {
				return fmt.Errorf("check %s: %w", doc.ref(), err)
			}
		case kindExportProfile:
			resp, err := c.exports.GetExportProfile(ctx, &ferryv1.GetExportProfileRequest{Name: doc.name})
			if outcome, err = compareStored(err, resp.GetProfile().GetSpec(), doc.export.GetSpec()); err != nil {
				return fmt.Errorf("check %s: %w", doc.ref(), err)
			}
		case kindDestination:
			resp, err := c.destinations.GetDestination(ctx, &ferryv1.GetDestinationRequest{Name: doc.name})
			pub, creds := withoutCredentials(doc.dest.GetSpec())
			if outcome, err = compareStored(err, resp.GetDestination().GetSpec(), pub); err != nil {
				return fmt.Errorf("check %s: %w", doc.ref(), err)
			}
			if outcome == "would be created" {
				createdDest[doc.name] = true
			}
			if creds && outcome == "unchanged" {
				outcome = "would be applied (the server compares the credentials it is given with the stored ones)"
			}
		}
		if outcome != "" {
			fmt.Fprintf(s.stdout, "%s %s (dry run)\n", doc.ref(), outcome)
		}
	}
	failed := 0
	for _, doc := range docs {
		if doc.kind != kindImportProfile {
			continue
		}
		if created[doc.profile.GetSpec().GetDataset()] {
			fmt.Fprintf(s.stdout, "%s checked here only: its dataset is created by these documents (dry run)\n", doc.ref())
			continue
		}
		if src := doc.profile.GetSpec().GetSftpSource(); src != nil && createdDest[src.GetConnection()] {
			fmt.Fprintf(s.stdout, "%s checked here only: its SFTP connection is created by these documents (dry run)\n", doc.ref())
			continue
		}
		resp, err := c.profiles.ValidateImportProfile(ctx, &ferryv1.ValidateImportProfileRequest{Name: doc.profile.GetName(), Spec: doc.profile.GetSpec()})
		if err != nil {
			fmt.Fprintf(s.stderr, "ferry: %s: %s\n", doc.ref(), status.Convert(err).Message())
			failed++
			continue
		}
		outcome := resp.GetOutcome()
		if outcome != "unchanged" {
			outcome = "would be " + outcome
		}
		fmt.Fprintf(s.stdout, "%s %s (dry run)\n", doc.ref(), outcome)
	}
	if failed > 0 {
		fmt.Fprintf(s.stderr, "ferry: apply --dry-run: %s found; nothing was applied\n", plural(failed, "problem"))
		return &exitError{code: 1}
	}
	return nil
}

// compareStored says what applying want would do, given the stored spec
// and the error of fetching it.
func compareStored(err error, stored, want proto.Message) (string, error) {
	switch {
	case status.Code(err) == codes.NotFound:
		return "would be created", nil
	case err != nil:
		return "", err
	case proto.Equal(stored, want):
		return "unchanged", nil
	default:
		return "would be updated", nil
	}
}

// sameDataset compares the definitions the user controls.
func sameDataset(stored, want *ferryv1.Dataset) bool {
	a := &ferryv1.Dataset{Fields: stored.GetFields(), Key: stored.GetKey(), References: stored.GetReferences()}
	b := &ferryv1.Dataset{Fields: want.GetFields(), Key: want.GetKey(), References: want.GetReferences()}
	return proto.Equal(a, b)
}

// stdinName names standard input in messages.
const stdinName = "<stdin>"

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
			name = stdinName
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

// apply applies datasets first, then cross-reference tables, templates,
// destinations, import profiles and export profiles, so that each finds
// what it uses, and otherwise keeps the order of the files. It stops at the
// first error.
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
		case kindCrossReference:
			resp, err := c.xrefs.ApplyCrossReference(ctx, doc.xref)
			if err != nil {
				return fmt.Errorf("apply %s: %w", doc.ref(), err)
			}
			outcome = resp.GetOutcome()
		case kindTemplate:
			resp, err := c.exports.ApplyTemplate(ctx, doc.tmpl)
			if err != nil {
				return fmt.Errorf("apply %s: %w", doc.ref(), err)
			}
			outcome = resp.GetOutcome()
		case kindDestination:
			resp, err := c.destinations.ApplyDestination(ctx, doc.dest)
			if err != nil {
				return fmt.Errorf("apply %s: %w", doc.ref(), err)
			}
			outcome = resp.GetOutcome()
		case kindExportProfile:
			resp, err := c.exports.ApplyExportProfile(ctx, doc.export)
			if err != nil {
				return fmt.Errorf("apply %s: %w", doc.ref(), err)
			}
			outcome = resp.GetOutcome()
			if p := resp.GetProfile(); p != nil && !p.GetValid() {
				// The server stores a profile that cannot run; say why now
				// rather than when it is started.
				outcome += " (" + invalidText(p) + ")"
			}
		}
		if outcome == "" {
			outcome = "applied"
		}
		fmt.Fprintf(s.stdout, "%s %s\n", doc.ref(), outcome)
	}
	return nil
}

func kindOrder(kind string) int {
	switch kind {
	case kindDataset:
		return 0
	case kindCrossReference:
		return 1
	case kindTemplate:
		return 2
	case kindDestination:
		return 3
	case kindImportProfile:
		return 4
	}
	return 5
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
