package cli

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func TestGetTables(t *testing.T) {
	srv := startServer(t)
	seedRuns(srv)
	require.Equal(t, 0, srv.run(t, usersYAML+groupsYAML, "apply", "-f", "-").code)

	tests := []struct {
		args []string
		want string
	}{
		{args: []string{"get", "datasets"}, want: `
NAME     FIELDS   KEY           VERSION   TABLE
groups   5        school,code   1         tenant_acme.groups
users    4        id            1         tenant_acme.users
`},
		{args: []string{"get", "dataset", "users"}, want: `
NAME    FIELDS   KEY   VERSION   TABLE
users   4        id    1         tenant_acme.users
`},
		{args: []string{"get", "profiles"}, want: `
NAME         DATASET   STATUS   VERSION   UPDATED                NEXT RUN
groups-csv   groups    draft    1         2026-03-04T05:06:07Z   -
users-csv    users     draft    1         2026-03-04T05:06:07Z   -
`},
		{args: []string{"get", "runs"}, want: `
ID   PROFILE      STATUS                  READ   INSERTED   UPDATED   UNCHANGED   REJECTED   CREATED
r3   groups-csv   failed                  0      0          0         0           0          2026-03-04T05:20:00Z
r2   users-csv    succeeded_with_errors   10     7          0         0           2          2026-03-04T05:10:00Z
r1   users-csv    succeeded               1200   1000       150       50          0          2026-03-04T05:01:00Z
`},
		{args: []string{"get", "run", "r1", "-o", "table"}, want: `
ID   PROFILE     STATUS      READ   INSERTED   UPDATED   UNCHANGED   REJECTED   CREATED
r1   users-csv   succeeded   1200   1000       150       50          0          2026-03-04T05:01:00Z
`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			res := srv.run(t, "", tt.args...)
			require.Equal(t, 0, res.code, res.stderr)
			require.Equal(t, strings.TrimPrefix(tt.want, "\n"), res.stdout)
		})
	}
	srv.requireAuth(t, testKey)
}

func TestGetRunsFilters(t *testing.T) {
	srv := startServer(t)
	seedRuns(srv)

	res := srv.run(t, "", "get", "runs", "--profile", "users-csv", "--status", "succeeded-with-errors", "--limit", "5")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, []string{"ID", "r2"}, firstColumn(res.stdout))
	requireProtos(t, []*ferryv1.ListRunsRequest{{Profile: "users-csv", Status: ferryv1.RunStatus_RUN_STATUS_SUCCEEDED_WITH_ERRORS, PageSize: 5}}, srv.runs.listReqs)

	// --limit pages through the list and stops when it has enough.
	srv.runs.listReqs = nil
	res = srv.run(t, "", "get", "runs", "--limit=1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, []string{"ID", "r3"}, firstColumn(res.stdout))
	require.Len(t, srv.runs.listReqs, 1)

	srv.runs.listReqs = nil
	res = srv.run(t, "", "get", "runs", "--status", "failed", "-o", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var list ferryv1.ListRunsResponse
	require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &list))
	requireProtos(t, []*ferryv1.Run{srv.runs.runs["r3"]}, list.GetRuns())

	res = srv.run(t, "", "get", "runs", "--profile", "nobody")
	require.Equal(t, 0, res.code, res.stderr)
	require.Empty(t, res.stdout)
	require.Equal(t, "No runs found.\n", res.stderr)
}

func firstColumn(table string) []string {
	var out []string
	for line := range strings.Lines(table) {
		out = append(out, strings.Fields(line)[0])
	}
	return out
}

func TestGetJSON(t *testing.T) {
	srv := startServer(t)
	seedRuns(srv)
	require.Equal(t, 0, srv.run(t, usersYAML, "apply", "-f", "-").code)

	res := srv.run(t, "", "get", "runs", "r2", "-o", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var run ferryv1.Run
	require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &run))
	require.True(t, proto.Equal(srv.runs.runs["r2"], &run))
	require.Contains(t, res.stdout, "\n  \"status\": \"RUN_STATUS_SUCCEEDED_WITH_ERRORS\",\n")

	res = srv.run(t, "", "get", "datasets", "users", "-o", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var ds ferryv1.Dataset
	require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &ds))
	require.True(t, proto.Equal(srv.datasets.stored["users"], &ds))

	res = srv.run(t, "", "get", "profiles", "-o", "json")
	require.Equal(t, 0, res.code, res.stderr)
	var profiles ferryv1.ListImportProfilesResponse
	require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &profiles))
	requireProtos(t, []*ferryv1.ImportProfile{srv.profiles.stored["users-csv"]}, profiles.GetProfiles())

	res = srv.run(t, "", "get", "datasets", "nope", "-o", "json")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: get dataset nope: dataset nope not found\n", res.stderr)
}

// TestGetYAMLReapplies checks that what get -o yaml prints is what apply
// reads: applied to an empty server it sends exactly the original requests.
func TestGetYAMLReapplies(t *testing.T) {
	first := startServer(t)
	require.Equal(t, 0, first.run(t, usersYAML+groupsYAML, "apply", "-f", "-").code)
	// A tab delimiter must survive the trip too.
	tabbed := strings.Replace(strings.Replace(usersYAML, `delimiter: ";"`, `delimiter: "\t"`, 1), "users-csv", "users-tsv", 1)
	require.Equal(t, 0, first.run(t, tabbed, "apply", "-f", "-").code)

	var files []string
	for _, kind := range []string{"datasets", "profiles"} {
		res := first.run(t, "", "get", kind, "-o", "yaml")
		require.Equal(t, 0, res.code, res.stderr)
		require.True(t, strings.HasPrefix(res.stdout, "apiVersion: ferry.dev/v1\n"), res.stdout)
		files = append(files, "-f", writeFile(t, kind+".yaml", res.stdout))
	}
	res := first.run(t, "", "get", "profile", "users-csv", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.NotContains(t, res.stdout, "---")

	// Re-applied to the same server, nothing changes.
	res = first.run(t, "", append([]string{"apply"}, files...)...)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "dataset/groups unchanged\ndataset/users unchanged\nimportprofile/groups-csv unchanged\nimportprofile/users-csv unchanged\nimportprofile/users-tsv unchanged\n", res.stdout)

	// Applied to an empty server, it sends what the original files sent.
	second := startServer(t)
	res = second.run(t, "", append([]string{"apply"}, files...)...)
	require.Equal(t, 0, res.code, res.stderr)
	requireProtos(t, []*ferryv1.Dataset{wantGroups, wantUsers}, second.datasets.applied)
	wantTSV := proto.CloneOf(wantUsersCSV)
	wantTSV.Name, wantTSV.Spec.Csv.Delimiter = "users-tsv", "\t"
	requireProtos(t, []*ferryv1.ApplyImportProfileRequest{wantGroupsCSV, wantUsersCSV, wantTSV}, second.profiles.applied)
}
