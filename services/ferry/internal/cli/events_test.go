package cli

import (
	"testing"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

const eventProfileYAML = `apiVersion: ferry.dev/v1
kind: Dataset
metadata:
  name: users
spec:
  fields: [{name: id, type: string}]
  key: [id]
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata:
  name: users-events
spec:
  dataset: users
  status: active
  events: {batchSize: 200, batchWindowMs: 500}
  publishChanges: true
`

// An event import profile's YAML round-trips: events and publishChanges.
func TestApplyEventProfile(t *testing.T) {
	srv := startServer(t)
	res := srv.run(t, eventProfileYAML, "apply", "-f", "-")
	require.Equal(t, 0, res.code, res.stderr)
	require.Len(t, srv.profiles.applied, 1)
	spec := srv.profiles.applied[0].GetSpec()
	require.Equal(t, int32(200), spec.GetEvents().GetBatchSize())
	require.Equal(t, int32(500), spec.GetEvents().GetBatchWindowMs())
	require.True(t, spec.GetPublishChanges())
	require.Equal(t, ferryv1.ProfileStatus_PROFILE_STATUS_ACTIVE, spec.GetStatus())

	res = srv.run(t, "", "get", "profiles", "users-events", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "batchSize: 200")
	require.Contains(t, res.stdout, "publishChanges: true")
	again := srv.run(t, res.stdout, "apply", "-f", "-")
	require.Equal(t, 0, again.code, again.stderr)
	require.Equal(t, "importprofile/users-events unchanged\n", again.stdout)

	bad := srv.run(t, eventProfileYAML+"  bogus: 1\n", "apply", "-f", "-")
	require.Equal(t, 1, bad.code)
}
