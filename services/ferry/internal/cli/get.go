package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// getOptions are the flags of `get`.
type getOptions struct {
	output  string
	profile string
	status  ferryv1.RunStatus
	limit   int
	version int64
}

func setupGet(fs *flag.FlagSet) action {
	var (
		o      getOptions
		status string
	)
	fs.StringVar(&o.output, "o", "table", "output `format`: table, yaml or json")
	fs.StringVar(&o.profile, "profile", "", "runs only: list the runs of this import `profile`")
	fs.StringVar(&status, "status", "", "runs only: list the runs with this `status`: "+strings.Join(runStatusNames(), ", "))
	fs.IntVar(&o.limit, "limit", 50, "runs only: list at most `n` runs")
	fs.Int64Var(&o.version, "version", 0, "profiles NAME and exports NAME only: show this `version` of the profile (every change of a profile makes one)")
	return func(ctx context.Context, s *session, args []string) error {
		kind, ok := resourceKinds[strings.ToLower(args[0])]
		if !ok {
			return usageErrorf("get", "cannot get %q (want datasets, profiles, crossreferences, templates, exports, destinations or runs)", args[0])
		}
		switch o.output {
		case "table", "yaml", "json":
		default:
			return usageErrorf("get", "-o %s: unknown format (want table, yaml or json)", o.output)
		}
		var runFlags []string
		fs.Visit(func(f *flag.Flag) {
			if f.Name != "o" && f.Name != "version" {
				runFlags = append(runFlags, "--"+f.Name)
			}
		})
		if o.version != 0 && ((kind != "profiles" && kind != "exports") || len(args) < 2) {
			return usageErrorf("get", "--version applies to one profile: get profiles|exports NAME --version N")
		}
		if kind != "runs" && len(runFlags) > 0 {
			return usageErrorf("get", "%s apply to runs only", strings.Join(runFlags, ", "))
		}
		if status != "" {
			if o.status, ok = parseRunStatus(status); !ok {
				return usageErrorf("get", "--status %s: unknown status (want one of: %s)", status, strings.Join(runStatusNames(), ", "))
			}
		}
		if o.limit <= 0 {
			return usageErrorf("get", "--limit must be at least 1")
		}
		name := ""
		if len(args) == 2 {
			name = args[1]
		}
		c, err := s.clients()
		if err != nil {
			return err
		}
		switch kind {
		case "datasets":
			return s.getDatasets(ctx, c, name, o)
		case "profiles":
			return s.getProfiles(ctx, c, name, o)
		case "crossreferences":
			return s.getXRefs(ctx, c, name, o)
		case "templates":
			return s.getTemplates(ctx, c, name, o)
		case "exports":
			return s.getExportProfiles(ctx, c, name, o)
		case "destinations":
			return s.getDestinations(ctx, c, name, o)
		default:
			return s.getRuns(ctx, c, name, o)
		}
	}
}

// resourceKinds maps what `get` accepts to the kind it lists.
var resourceKinds = map[string]string{
	"dataset": "datasets", "datasets": "datasets", "ds": "datasets",
	"profile": "profiles", "profiles": "profiles",
	"importprofile": "profiles", "importprofiles": "profiles",
	"run": "runs", "runs": "runs",
	"crossreference": "crossreferences", "crossreferences": "crossreferences",
	"xref": "crossreferences", "xrefs": "crossreferences",
	"template": "templates", "templates": "templates",
	"export": "exports", "exports": "exports",
	"exportprofile": "exports", "exportprofiles": "exports",
	"destination": "destinations", "destinations": "destinations", "dest": "destinations",
}

func (s *session) getDatasets(ctx context.Context, c *clients, name string, o getOptions) error {
	var datasets []*ferryv1.Dataset
	var whole proto.Message
	if name != "" {
		resp, err := c.datasets.GetDataset(ctx, &ferryv1.GetDatasetRequest{Name: name})
		if err != nil {
			return fmt.Errorf("get dataset %s: %w", name, err)
		}
		datasets = []*ferryv1.Dataset{resp.GetDataset()}
		whole = resp.GetDataset()
	} else {
		resp, err := c.datasets.ListDatasets(ctx, &ferryv1.ListDatasetsRequest{})
		if err != nil {
			return fmt.Errorf("list datasets: %w", err)
		}
		datasets = resp.GetDatasets()
		whole = resp
	}
	switch o.output {
	case "json":
		return s.printJSON(whole)
	case "yaml":
		docs := make([]any, 0, len(datasets))
		for _, ds := range datasets {
			docs = append(docs, datasetResource(ds))
		}
		return s.printYAML(docs...)
	}
	if len(datasets) == 0 {
		fmt.Fprintln(s.stderr, "No datasets found.")
		return nil
	}
	t := newTable(s.stdout, "NAME", "FIELDS", "KEY", "VERSION", "TABLE")
	for _, ds := range datasets {
		t.row(ds.GetName(), strconv.Itoa(len(ds.GetFields())), strings.Join(ds.GetKey(), ","),
			strconv.FormatInt(ds.GetVersion(), 10), ds.GetTable())
	}
	return t.flush()
}

func (s *session) getProfiles(ctx context.Context, c *clients, name string, o getOptions) error {
	var profiles []*ferryv1.ImportProfile
	var whole proto.Message
	if name != "" {
		resp, err := c.profiles.GetImportProfile(ctx, &ferryv1.GetImportProfileRequest{Name: name, Version: o.version})
		if err != nil {
			return fmt.Errorf("get import profile %s: %w", name, err)
		}
		profiles = []*ferryv1.ImportProfile{resp.GetProfile()}
		whole = resp.GetProfile()
	} else {
		resp, err := c.profiles.ListImportProfiles(ctx, &ferryv1.ListImportProfilesRequest{})
		if err != nil {
			return fmt.Errorf("list import profiles: %w", err)
		}
		profiles = resp.GetProfiles()
		whole = resp
	}
	switch o.output {
	case "json":
		return s.printJSON(whole)
	case "yaml":
		docs := make([]any, 0, len(profiles))
		for _, p := range profiles {
			docs = append(docs, profileResource(p))
		}
		return s.printYAML(docs...)
	}
	if len(profiles) == 0 {
		fmt.Fprintln(s.stderr, "No import profiles found.")
		return nil
	}
	t := newTable(s.stdout, "NAME", "DATASET", "STATUS", "VERSION", "UPDATED", "NEXT RUN")
	for _, p := range profiles {
		updated := p.GetUpdateTime()
		if updated == nil {
			updated = p.GetCreateTime()
		}
		status := enumName(int32(p.GetSpec().GetStatus()), ferryv1.ProfileStatus_name, "PROFILE_STATUS_")
		if status == "" {
			status = "draft"
		}
		t.row(p.GetName(), p.GetSpec().GetDataset(), status, strconv.FormatInt(p.GetVersion(), 10), formatTime(updated),
			nextRun(p.GetSpec().GetTriggers(), p.GetNextFireTimes()))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if name != "" {
		printNextRuns(s.stdout, profiles[0].GetSpec().GetTriggers(), profiles[0].GetSpec().GetStatus(), profiles[0].GetNextFireTimes())
	}
	return nil
}

func (s *session) getRuns(ctx context.Context, c *clients, id string, o getOptions) error {
	var runs []*ferryv1.Run
	var whole proto.Message
	if id != "" {
		resp, err := c.runs.GetRun(ctx, &ferryv1.GetRunRequest{Id: id})
		if err != nil {
			return fmt.Errorf("get run %s: %w", id, err)
		}
		runs = []*ferryv1.Run{resp.GetRun()}
		whole = resp.GetRun()
	} else {
		req := &ferryv1.ListRunsRequest{Profile: o.profile, Status: o.status, PageSize: int32(min(o.limit, 1000))}
		for {
			resp, err := c.runs.ListRuns(ctx, req)
			if err != nil {
				return fmt.Errorf("list runs: %w", err)
			}
			runs = append(runs, resp.GetRuns()...)
			if len(runs) >= o.limit || resp.GetNextPageToken() == "" {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		runs = runs[:min(len(runs), o.limit)]
		whole = &ferryv1.ListRunsResponse{Runs: runs}
	}
	switch o.output {
	case "json":
		return s.printJSON(whole)
	case "yaml":
		docs := make([]any, 0, len(runs))
		for _, r := range runs {
			docs = append(docs, r)
		}
		return s.printYAML(docs...)
	}
	if len(runs) == 0 {
		fmt.Fprintln(s.stderr, "No runs found.")
		return nil
	}
	t := newTable(s.stdout, "ID", "PROFILE", "STATUS", "READ", "INSERTED", "UPDATED", "UNCHANGED", "REJECTED", "CREATED")
	for _, r := range runs {
		n := r.GetCounts()
		t.row(r.GetId(), r.GetProfile(), runStatusName(r.GetStatus()),
			count(n.GetRead()), count(n.GetInserted()), count(n.GetUpdated()), count(n.GetUnchanged()), count(n.GetRejected()),
			formatTime(r.GetCreateTime()))
	}
	return t.flush()
}

func count(n int64) string { return strconv.FormatInt(n, 10) }

// maxTableMsg bounds a table with its entries as the CLI receives it; gRPC's
// default of 4 MiB holds about 100 000 short entries.
const maxTableMsg = 256 << 20

// getXRefs lists cross-reference tables, or prints the entries of one.
func (s *session) getXRefs(ctx context.Context, c *clients, name string, o getOptions) error {
	if name != "" {
		resp, err := c.xrefs.GetCrossReference(ctx, &ferryv1.GetCrossReferenceRequest{Name: name}, grpc.MaxCallRecvMsgSize(maxTableMsg))
		if err != nil {
			return fmt.Errorf("get cross-reference %s: %w", name, err)
		}
		x := resp.GetCrossReference()
		switch o.output {
		case "json":
			return s.printJSON(x)
		case "yaml":
			return s.printYAML(xrefResource(x))
		}
		if len(x.GetEntries()) == 0 {
			fmt.Fprintf(s.stderr, "Cross-reference %s has no entries.\n", name)
			return nil
		}
		t := newTable(s.stdout, "EXTERNAL", "INTERNAL", "PRIMARY")
		for _, e := range x.GetEntries() {
			primary := ""
			if e.GetPrimary() {
				primary = "yes"
			}
			t.row(e.GetExternal(), e.GetInternal(), primary)
		}
		return t.flush()
	}
	resp, err := c.xrefs.ListCrossReferences(ctx, &ferryv1.ListCrossReferencesRequest{})
	if err != nil {
		return fmt.Errorf("list cross-references: %w", err)
	}
	switch o.output {
	case "json":
		return s.printJSON(resp)
	case "yaml":
		docs := make([]any, 0, len(resp.GetCrossReferences()))
		for _, x := range resp.GetCrossReferences() {
			docs = append(docs, xrefResource(x))
		}
		return s.printYAML(docs...)
	}
	if len(resp.GetCrossReferences()) == 0 {
		fmt.Fprintln(s.stderr, "No cross-references found.")
		return nil
	}
	t := newTable(s.stdout, "NAME", "ENTRIES", "CASE", "VERSION", "UPDATED")
	for _, x := range resp.GetCrossReferences() {
		match := "sensitive"
		if x.GetCaseInsensitive() {
			match = "insensitive"
		}
		t.row(x.GetName(), count(x.GetEntryCount()), match, count(x.GetVersion()), formatTime(x.GetUpdateTime()))
	}
	return t.flush()
}
