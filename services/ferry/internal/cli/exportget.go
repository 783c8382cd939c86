package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func (s *session) getTemplates(ctx context.Context, c *clients, name string, o getOptions) error {
	var templates []*ferryv1.Template
	var whole proto.Message
	if name != "" {
		resp, err := c.exports.GetTemplate(ctx, &ferryv1.GetTemplateRequest{Name: name})
		if err != nil {
			return fmt.Errorf("get template %s: %w", name, err)
		}
		templates = []*ferryv1.Template{resp.GetTemplate()}
		whole = resp.GetTemplate()
	} else {
		resp, err := c.exports.ListTemplates(ctx, &ferryv1.ListTemplatesRequest{})
		if err != nil {
			return fmt.Errorf("list templates: %w", err)
		}
		templates = resp.GetTemplates()
		whole = resp
	}
	switch o.output {
	case "json":
		return s.printJSON(whole)
	case "yaml":
		docs := make([]any, 0, len(templates))
		for _, t := range templates {
			docs = append(docs, templateResource(t))
		}
		return s.printYAML(docs...)
	}
	if len(templates) == 0 {
		fmt.Fprintln(s.stderr, "No templates found.")
		return nil
	}
	t := newTable(s.stdout, "NAME", "COLUMNS", "VERSION", "UPDATED")
	for _, tm := range templates {
		updated := tm.GetUpdateTime()
		if updated == nil {
			updated = tm.GetCreateTime()
		}
		t.row(tm.GetName(), strconv.Itoa(len(tm.GetSpec().GetColumns())), count(tm.GetVersion()), formatTime(updated))
	}
	return t.flush()
}

func (s *session) getExportProfiles(ctx context.Context, c *clients, name string, o getOptions) error {
	var profiles []*ferryv1.ExportProfile
	var whole proto.Message
	if name != "" {
		resp, err := c.exports.GetExportProfile(ctx, &ferryv1.GetExportProfileRequest{Name: name, Version: o.version})
		if err != nil {
			return fmt.Errorf("get export profile %s: %w", name, err)
		}
		profiles = []*ferryv1.ExportProfile{resp.GetProfile()}
		whole = resp.GetProfile()
	} else {
		resp, err := c.exports.ListExportProfiles(ctx, &ferryv1.ListExportProfilesRequest{})
		if err != nil {
			return fmt.Errorf("list export profiles: %w", err)
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
			docs = append(docs, exportProfileResource(p))
		}
		return s.printYAML(docs...)
	}
	if len(profiles) == 0 {
		fmt.Fprintln(s.stderr, "No export profiles found.")
		return nil
	}
	t := newTable(s.stdout, "NAME", "DATASET", "FORMAT", "MODE", "STATUS", "VALID", "VERSION", "NEXT RUN")
	for _, p := range profiles {
		sp := p.GetSpec()
		valid := "yes"
		if !p.GetValid() {
			valid = "no"
		}
		t.row(p.GetName(), sp.GetDataset(),
			enumName(int32(sp.GetFormat()), ferryv1.ExportFormat_name, "EXPORT_FORMAT_"),
			enumName(int32(sp.GetMode()), ferryv1.ExportMode_name, "EXPORT_MODE_"),
			enumName(int32(sp.GetStatus()), ferryv1.ProfileStatus_name, "PROFILE_STATUS_"),
			valid, count(p.GetVersion()), nextRun(sp.GetTriggers(), p.GetNextFireTimes()))
	}
	if err := t.flush(); err != nil {
		return err
	}
	if name != "" && !profiles[0].GetValid() {
		fmt.Fprintln(s.stdout, invalidText(profiles[0]))
	}
	if name != "" {
		printNextRuns(s.stdout, profiles[0].GetSpec().GetTriggers(), profiles[0].GetSpec().GetStatus(), profiles[0].GetNextFireTimes())
	}
	return nil
}

// invalidText says why a profile cannot run: "invalid: <problem>; <problem>".
func invalidText(p *ferryv1.ExportProfile) string {
	if len(p.GetProblems()) == 0 {
		return "invalid"
	}
	return "invalid: " + strings.Join(p.GetProblems(), "; ")
}
