package store

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"

	"github.com/ferrydata/ferry/libs/errs"
	"github.com/ferrydata/ferry/libs/store/storetest"
)

func TestEventImportProfiles(t *testing.T) {
	ctx := context.Background()
	pool := storetest.Open(t)
	p := storetest.Tenant(t, pool, "acme")
	_, err := pool.Exec(ctx, `CREATE SCHEMA tenant_acme`)
	require.NoError(t, err)
	s := New(pool)
	_, err = s.CreateDataset(ctx, p, &ferryv1.Dataset{Name: "people", Key: []string{"id"},
		Fields: []*ferryv1.Field{{Name: "id", Type: ferryv1.FieldType_FIELD_TYPE_STRING}}})
	require.NoError(t, err)
	var hasVersion bool
	require.NoError(t, pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
		WHERE table_schema = 'tenant_acme' AND table_name = 'people' AND column_name = '_ferry_version')`).Scan(&hasVersion))
	require.True(t, hasVersion, "new dataset tables have _ferry_version")

	active := func() *ferryv1.ImportProfileSpec {
		return &ferryv1.ImportProfileSpec{Dataset: "people", Status: ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, Events: &ferryv1.EventImport{}}
	}
	_, _, err = s.ApplyProfile(ctx, p, "events-a", active())
	require.NoError(t, err)
	// A second active one for the dataset is refused; a draft one is not.
	_, _, err = s.ApplyProfile(ctx, p, "events-b", active())
	require.True(t, errs.Is(err, errs.KindConflict), "%v", err)
	require.ErrorContains(t, err, `already has the active event import profile "events-a"`)
	draft := active()
	draft.Status = ferryv1.ProfileStatus_PROFILE_STATUS_DRAFT
	_, _, err = s.ApplyProfile(ctx, p, "events-b", draft)
	require.NoError(t, err)
	// The same profile applied again is fine.
	a := active()
	a.Events.BatchSize = 10
	_, _, err = s.ApplyProfile(ctx, p, "events-a", a)
	require.NoError(t, err)
	// Events with an SFTP source, or another write mode, are refused.
	withSFTP := draft
	withSFTP.SftpSource = &ferryv1.SFTPSource{Connection: "x"}
	_, _, err = s.ApplyProfile(ctx, p, "events-c", withSFTP)
	require.True(t, errs.Is(err, errs.KindInvalid), "%v", err)
	require.ErrorContains(t, err, "events and sftpSource cannot be combined")
	mirror := active()
	mirror.Status, mirror.WriteMode = ferryv1.ProfileStatus_PROFILE_STATUS_DRAFT, ferryv1.WriteMode_WRITE_MODE_MIRROR
	_, _, err = s.ApplyProfile(ctx, p, "events-d", mirror)
	require.ErrorContains(t, err, "cannot be used with events")
}
