package catalog

import (
	"fmt"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/schedule"
)

// validateExportTriggers checks what an export profile's triggers say by
// themselves; that the profiles they name exist, and cycles, are checked
// against the store.
func validateExportTriggers(name string, t *ferryv1.Triggers) error {
	return validateTriggers(fmt.Sprintf("export profile %q: triggers", name), t)
}

// validateImportTriggers checks an import profile's triggers: an import
// needs a file, so it runs on a schedule or after another run only to poll
// its SFTP source, and never on a dataset change.
func validateImportTriggers(name string, s *ferryv1.ImportProfileSpec) error {
	t := s.GetTriggers()
	where := fmt.Sprintf("profile %q: triggers", name)
	if t.GetOnDatasetChange() {
		return errs.Invalid("%s.onDatasetChange: an import profile imports files, it does not run when a dataset changes", where)
	}
	if s.GetSftpSource() == nil {
		switch {
		case t.GetSchedule() != nil:
			return errs.Invalid("%s.schedule needs sftpSource: a scheduled import polls an SFTP directory for its file", where)
		case len(t.GetAfter()) > 0:
			return errs.Invalid("%s.after needs sftpSource: an import started by another run polls an SFTP directory for its file", where)
		}
	}
	return validateTriggers(where, t)
}

func validateTriggers(where string, t *ferryv1.Triggers) error {
	if t == nil {
		return nil
	}
	if t.GetSchedule() != nil {
		if _, err := schedule.Parse(t.GetSchedule()); err != nil {
			return errs.Invalid("%s.%s", where, err)
		}
	}
	if t.GetDebounceSeconds() < 0 {
		return errs.Invalid("%s.debounceSeconds %d must not be negative (0 is 60 seconds)", where, t.GetDebounceSeconds())
	}
	for i, a := range t.GetAfter() {
		if a.GetProfile() == "" {
			return errs.Invalid("%s.after[%d].profile is required: name the profile whose runs start this one", where, i)
		}
		if _, ok := ferryv1.RunKind_name[int32(a.GetKind())]; !ok {
			return errs.Invalid("%s.after[%d].kind %d: want import or export", where, i, a.GetKind())
		}
	}
	return nil
}
