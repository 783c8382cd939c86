package catalog

import (
	"testing"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func TestValidateTriggers(t *testing.T) {
	ds := &ferryv1.Dataset{Name: "u", Fields: []*ferryv1.Field{str("id")}, Key: []string{"id"}}
	src := &ferryv1.SFTPSource{Connection: "partner", Directory: "/in"}
	sched := &ferryv1.Schedule{Cron: "30 2 * * *", TimeZone: "America/New_York"}
	for _, tc := range []struct {
		name string
		spec *ferryv1.ImportProfileSpec
		want string // "" when valid
	}{
		{"schedule with sftp source", &ferryv1.ImportProfileSpec{Dataset: "u", SftpSource: src, Triggers: &ferryv1.Triggers{Schedule: sched}}, ""},
		{"schedule without sftp source", &ferryv1.ImportProfileSpec{Dataset: "u", Triggers: &ferryv1.Triggers{Schedule: sched}}, "triggers.schedule needs sftpSource"},
		{"after without sftp source", &ferryv1.ImportProfileSpec{Dataset: "u", Triggers: &ferryv1.Triggers{After: []*ferryv1.RunEndedTrigger{{Profile: "x"}}}}, "triggers.after needs sftpSource"},
		{"on dataset change", &ferryv1.ImportProfileSpec{Dataset: "u", SftpSource: src, Triggers: &ferryv1.Triggers{OnDatasetChange: true}}, "onDatasetChange"},
		{"bad cron", &ferryv1.ImportProfileSpec{Dataset: "u", SftpSource: src, Triggers: &ferryv1.Triggers{Schedule: &ferryv1.Schedule{Cron: "99 * * * *"}}}, `triggers.schedule.cron "99 * * * *"`},
		{"bad zone", &ferryv1.ImportProfileSpec{Dataset: "u", SftpSource: src, Triggers: &ferryv1.Triggers{Schedule: &ferryv1.Schedule{Cron: "@daily", TimeZone: "Nowhere/Land"}}}, `schedule.timeZone "Nowhere/Land"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ValidateProfile("drop", tc.spec, ds, nil)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
		})
	}

	base := func(tr *ferryv1.Triggers) *ferryv1.ExportProfileSpec {
		return &ferryv1.ExportProfileSpec{Dataset: "u", Triggers: tr}
	}
	_, err := ValidateExportProfile("nightly", base(&ferryv1.Triggers{Schedule: sched, OnDatasetChange: true, DebounceSeconds: 30,
		After: []*ferryv1.RunEndedTrigger{{Profile: "load", Kind: ferryv1.RunKind_RUN_KIND_IMPORT}}}))
	require.NoError(t, err)
	_, err = ValidateExportProfile("nightly", base(&ferryv1.Triggers{Schedule: &ferryv1.Schedule{Cron: "0 0 30 2 *"}}))
	require.ErrorContains(t, err, `export profile "nightly": triggers.schedule.cron "0 0 30 2 *": never fires`)
	_, err = ValidateExportProfile("nightly", base(&ferryv1.Triggers{DebounceSeconds: -1}))
	require.ErrorContains(t, err, "debounceSeconds -1 must not be negative")
	_, err = ValidateExportProfile("nightly", base(&ferryv1.Triggers{After: []*ferryv1.RunEndedTrigger{{}}}))
	require.ErrorContains(t, err, "after[0].profile is required")
}
