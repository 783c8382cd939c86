package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

// destinationsYAML lists the export and import profiles before the
// destinations they name, to show that apply sends destinations first.
// {{dir}} is replaced by the directory of the files it reads.
const destinationsYAML = `apiVersion: ferry.dev/v1
kind: ExportProfile
metadata: {name: users-nightly}
spec:
  dataset: users
  format: jsonl
  destinations: [partner-sftp, hooks, bus]
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: users-pull}
spec:
  dataset: users
  sftpSource:
    connection: partner-sftp
    directory: outgoing
    glob: "*.csv"
    pollIntervalSeconds: 30
    afterSuccess: archive
    archiveDirectory: done
    errorDirectory: failed
---
apiVersion: ferry.dev/v1
kind: Destination
metadata: {name: partner-sftp}
spec:
  sftp:
    host: sftp.partner.example
    port: 2222
    username: acme
    passwordFile: secrets/password.txt
    privateKeyEnv: FERRY_TEST_SFTP_KEY
    hostKey: "[sftp.partner.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    directory: /upload
    path: "{profile}/{date:2006-01}"
    createDirs: true
    overwrite: fail
    gzip: true
    timeoutSeconds: 20
  retry: {maxAttempts: 5, initialBackoffSeconds: 10, maxBackoffSeconds: 600}
---
apiVersion: ferry.dev/v1
kind: Destination
metadata: {name: hooks}
spec:
  internal: true
  webhook:
    url: https://hooks.example.com/ferry
    mode: notice
    secret: hook-secret-1
    timeoutSeconds: 15
    caCertFile: secrets/ca.pem
    linkTtlSeconds: 3600
---
apiVersion: ferry.dev/v1
kind: Destination
metadata: {name: bus}
spec:
  nats: {subject: users.daily, mode: rows, rowsPerMessage: 500}
`

var (
	wantPartner = &ferryv1.ApplyDestinationRequest{Name: "partner-sftp", Spec: &ferryv1.DestinationSpec{
		Kind: &ferryv1.DestinationSpec_Sftp{Sftp: &ferryv1.SFTPDestination{
			Host: "sftp.partner.example", Port: 2222, Username: "acme", Password: "pa55 word", PrivateKey: "KEY\n",
			HostKey:   "[sftp.partner.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
			Directory: "/upload", Path: "{profile}/{date:2006-01}", CreateDirs: true, Overwrite: ferryv1.OverwritePolicy_OVERWRITE_POLICY_FAIL,
			Gzip: true, TimeoutSeconds: 20,
		}},
		Retry: &ferryv1.RetryPolicy{MaxAttempts: 5, InitialBackoffSeconds: 10, MaxBackoffSeconds: 600},
	}}
	wantHooks = &ferryv1.ApplyDestinationRequest{Name: "hooks", Spec: &ferryv1.DestinationSpec{Internal: true,
		Kind: &ferryv1.DestinationSpec_Webhook{Webhook: &ferryv1.WebhookDestination{
			Url: "https://hooks.example.com/ferry", Mode: ferryv1.WebhookMode_WEBHOOK_MODE_NOTICE, Secret: "hook-secret-1",
			TimeoutSeconds: 15, CaCert: testCA, LinkTtlSeconds: 3600,
		}}}}
	wantBus = &ferryv1.ApplyDestinationRequest{Name: "bus", Spec: &ferryv1.DestinationSpec{
		Kind: &ferryv1.DestinationSpec_Nats{Nats: &ferryv1.NATSDestination{Subject: "users.daily", Mode: ferryv1.NATSMode_NATS_MODE_ROWS, RowsPerMessage: 500}}}}
)

// writeDestinations writes destinationsYAML and the files it reads, sets
// the variable it reads, and returns the document's path.
func writeDestinations(t *testing.T) string {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "secrets"), 0o700))
	// An editor's trailing line break is not part of the password.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", "password.txt"), []byte("pa55 word\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", "ca.pem"), []byte(testCA), 0o600))
	t.Setenv("FERRY_TEST_SFTP_KEY", "KEY\n")
	path := filepath.Join(dir, "destinations.yaml")
	require.NoError(t, os.WriteFile(path, []byte(destinationsYAML), 0o600))
	return path
}

func TestApplyDestinations(t *testing.T) {
	srv := startServer(t)
	require.Equal(t, 0, srv.run(t, usersYAML, "apply", "-f", "-").code)
	path := writeDestinations(t)

	res := srv.run(t, "", "apply", "-f", path, "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "exportprofile/users-nightly would be created (dry run)\ndestination/partner-sftp would be created (dry run)\n"+
		"destination/hooks would be created (dry run)\ndestination/bus would be created (dry run)\n"+
		"importprofile/users-pull checked here only: its SFTP connection is created by these documents (dry run)\n", res.stdout)
	require.Empty(t, srv.destinations.applied)

	res = srv.run(t, "", "apply", "-f", path)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "destination/partner-sftp created\ndestination/hooks created\ndestination/bus created\n"+
		"importprofile/users-pull created\nexportprofile/users-nightly created\n", res.stdout)
	requireProtos(t, []*ferryv1.ApplyDestinationRequest{wantPartner, wantHooks, wantBus}, srv.destinations.applied)
	require.Equal(t, []string{"partner-sftp", "hooks", "bus"}, srv.exports.appliedProfiles[0].GetSpec().GetDestinations())
	requireProtos(t, []*ferryv1.SFTPSource{{Connection: "partner-sftp", Directory: "outgoing", Glob: "*.csv", PollIntervalSeconds: 30,
		AfterSuccess: ferryv1.AfterImport_AFTER_IMPORT_ARCHIVE, ArchiveDirectory: "done", ErrorDirectory: "failed"}},
		[]*ferryv1.SFTPSource{srv.profiles.applied[len(srv.profiles.applied)-1].GetSpec().GetSftpSource()})

	// Applied again: nothing changes.
	res = srv.run(t, "", "apply", "-f", path)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "destination/partner-sftp unchanged\ndestination/hooks unchanged\ndestination/bus unchanged\n")

	// A dry run compares what it can: not credentials.
	destOnly := filepath.Join(filepath.Dir(path), "only-destinations.yaml")
	require.NoError(t, os.WriteFile(destOnly, []byte(destinationsYAML[strings.Index(destinationsYAML, "apiVersion: ferry.dev/v1\nkind: Destination"):]), 0o600))
	res = srv.run(t, "", "apply", "-f", destOnly, "--dry-run")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "destination/partner-sftp would be applied (the server compares the credentials it is given with the stored ones) (dry run)\n")
	require.Contains(t, res.stdout, "destination/bus unchanged (dry run)\n")
}

func TestApplyDestinationsRejectsInvalidDocuments(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("FERRY_TEST_UNSET", "")
	doc := `apiVersion: ferry.dev/v1
kind: Destination
metadata: {name: both}
spec:
  sftp: {host: h, username: u, hostKey: k, password: x, passwordFile: pw.txt, overwrite: sometimes}
  nats: {subject: s}
---
apiVersion: ferry.dev/v1
kind: Destination
metadata: {name: files}
spec:
  sftp: {host: h, username: u, hostKey: k, privateKeyFile: missing.pem, passphraseEnv: FERRY_TEST_UNSET}
---
apiVersion: ferry.dev/v1
kind: Destination
metadata: {name: none}
spec:
  retry: {maxAttempts: -1}
---
apiVersion: ferry.dev/v1
kind: Destination
metadata: {name: hook}
spec:
  webhook: {url: "https://h", mode: stream, secret: s, secretEnv: X, password: p}
---
apiVersion: ferry.dev/v1
kind: ImportProfile
metadata: {name: pull}
spec:
  dataset: users
  sftpSource: {glob: "*.csv", afterSuccess: keep, pollIntervalSeconds: -5}
---
apiVersion: ferry.dev/v1
kind: ExportProfile
metadata: {name: out}
spec:
  dataset: users
  destinations: [a, "", a]
`
	path := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	srv := startServer(t)
	res := srv.run(t, "", "apply", "-f", path)
	require.Equal(t, 1, res.code)
	for _, want := range []string{
		`document 1 (destination/both, line 1): spec.sftp: give one of password, passwordFile, not more`,
		`document 1 (destination/both, line 1): spec.sftp.overwrite: unknown value "sometimes" (want one of: replace, fail)`,
		`document 1 (destination/both, line 1): spec: give exactly one of sftp, webhook or nats`,
		`document 2 (destination/files, line 8): spec.sftp.privateKeyFile: open ` + filepath.Join(dir, "missing.pem") + `: no such file or directory`,
		`document 2 (destination/files, line 8): spec.sftp.passphraseEnv: environment variable FERRY_TEST_UNSET is not set`,
		`document 3 (destination/none, line 14): spec: give exactly one of sftp, webhook or nats`,
		`document 3 (destination/none, line 14): spec.retry: values must not be negative`,
		`document 4 (destination/hook, line 20): spec.webhook: unknown key "password"`,
		`document 5 (importprofile/pull, line 26): spec.sftpSource.connection: missing: name an SFTP destination`,
		`document 5 (importprofile/pull, line 26): spec.sftpSource.afterSuccess: unknown value "keep" (want one of: archive, delete)`,
		`document 5 (importprofile/pull, line 26): spec.sftpSource.pollIntervalSeconds: must not be negative`,
		`document 6 (exportprofile/out, line 33): spec.destinations[1]: empty`,
		`document 6 (exportprofile/out, line 33): spec.destinations[2]: "a" is also spec.destinations[0]`,
	} {
		require.Contains(t, res.stderr, want)
	}
	require.Empty(t, srv.methods(), "nothing is sent")

	// A key unknown to the webhook section is reported before its values.
	doc = strings.Replace(doc, "password: p}", "}", 1)
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	res = srv.run(t, "", "apply", "-f", path)
	require.Contains(t, res.stderr, `spec.webhook: give one of secret, secretEnv, not more`)
	require.Contains(t, res.stderr, `spec.webhook.mode: unknown mode "stream" (want one of: file, notice)`)
}

// TestGetDestinations checks the table, and that -o yaml shows which
// credentials are set but never their values, and applies back without
// losing them.
func TestGetDestinations(t *testing.T) {
	srv := startServer(t)
	require.Equal(t, 0, srv.run(t, usersYAML, "apply", "-f", "-").code)
	require.Equal(t, 0, srv.run(t, "", "apply", "-f", writeDestinations(t)).code)
	require.Equal(t, 0, srv.run(t, `apiVersion: ferry.dev/v1
kind: Destination
metadata: {name: tokened}
spec:
  webhook: {url: "https://hooks.example.com/in?token=abc", secret: s3}
`, "apply", "-f", "-").code)

	res := srv.run(t, "", "get", "destinations")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, `NAME           KIND      TARGET                                                            SECRETS
bus            nats      subject users.daily                                               -
hooks          webhook   https://hooks.example.com/ferry                                   secret
partner-sftp   sftp      acme@sftp.partner.example:2222 /upload/{profile}/{date:2006-01}   password,private_key
tokened        webhook   https://hooks.example.com/in?…                                    secret
`, res.stdout)

	secrets := []string{"pa55 word", "KEY", "hook-secret-1", "s3", "abc"}
	for _, output := range []string{"yaml", "json"} {
		res = srv.run(t, "", "get", "destinations", "-o", output)
		require.Equal(t, 0, res.code, res.stderr)
		for _, s := range secrets[:4] {
			require.NotContains(t, res.stdout, s, output)
		}
	}
	res = srv.run(t, "", "get", "destination", "partner-sftp", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, `apiVersion: ferry.dev/v1
kind: Destination
metadata:
  name: partner-sftp
spec:
  retry:
    initialBackoffSeconds: 10
    maxAttempts: 5
    maxBackoffSeconds: 600
  secretsSet:
  - password
  - private_key
  sftp:
    createDirs: true
    directory: /upload
    gzip: true
    host: sftp.partner.example
    hostKey: '[sftp.partner.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl'
    overwrite: fail
    path: '{profile}/{date:2006-01}'
    port: 2222
    timeoutSeconds: 20
    username: acme
`, res.stdout)

	// Every destination printed and applied again: unchanged, credentials kept.
	res = srv.run(t, "", "get", "destinations", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	again := srv.run(t, res.stdout, "apply", "-f", "-")
	require.Equal(t, 0, again.code, again.stderr)
	require.Equal(t, "destination/bus unchanged\ndestination/hooks unchanged\ndestination/partner-sftp unchanged\ndestination/tokened unchanged\n", again.stdout)
	require.Equal(t, map[string]string{"password": "pa55 word", "private_key": "KEY\n"}, srv.destinations.creds["partner-sftp"])
	require.Equal(t, map[string]string{"secret": "hook-secret-1"}, srv.destinations.creds["hooks"])
	last := srv.destinations.applied[len(srv.destinations.applied)-2]
	require.Equal(t, "partner-sftp", last.GetName())
	require.Empty(t, last.GetSpec().GetSftp().GetPassword(), "the document carries no credentials")

	// The export and import profiles print their destinations and source.
	res = srv.run(t, "", "get", "exports", "users-nightly", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "destinations:\n  - partner-sftp\n  - hooks\n  - bus\n")
	res = srv.run(t, "", "get", "profiles", "users-pull", "-o", "yaml")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "sftpSource:\n    afterSuccess: archive\n    archiveDirectory: done\n    connection: partner-sftp\n")
	again = srv.run(t, res.stdout, "apply", "-f", "-")
	require.Equal(t, 0, again.code, again.stderr)
	require.Equal(t, "importprofile/users-pull unchanged\n", again.stdout)

	res = srv.run(t, "", "get", "destination", "nope")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: get destination nope: destination \"nope\" not found\n", res.stderr)
}

func TestDestinationsTest(t *testing.T) {
	srv := startServer(t)
	const line = "[sftp.partner.example]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	srv.destinations.tests["partner"] = &ferryv1.TestDestinationResponse{Ok: true, HostKeyFingerprint: "SHA256:abc", HostKeyLine: line,
		HostKeyMatches: true, Writable: true, Message: "host key SHA256:abc matches the pin; /upload is writable"}
	srv.destinations.tests["moved"] = &ferryv1.TestDestinationResponse{HostKeyFingerprint: "SHA256:new", HostKeyLine: line,
		Message: "host key mismatch: sftp.partner.example:2222 presented SHA256:new, but the pin is SHA256:old"}
	srv.destinations.tests["bus"] = &ferryv1.TestDestinationResponse{Ok: true, Message: "publishes on ferry.out.acme.users"}

	res := srv.run(t, "", "destinations", "test", "partner")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, `Host key:     SHA256:abc
known_hosts:  `+line+`
Matches pin:  yes
Writable:     yes
Result:       ok
Message:      host key SHA256:abc matches the pin; /upload is writable
`, res.stdout)

	res = srv.run(t, "", "destinations", "test", "moved")
	require.Equal(t, 1, res.code)
	require.Empty(t, res.stderr)
	require.Equal(t, `Host key:     SHA256:new
known_hosts:  `+line+`
Matches pin:  no
Writable:     no
Result:       failed
Message:      host key mismatch: sftp.partner.example:2222 presented SHA256:new, but the pin is SHA256:old

If SHA256:new is the server's key (check with its operator), pin it:
  hostKey: "`+line+`"
`, res.stdout)

	res = srv.run(t, "", "destinations", "test", "bus")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "Result:   ok\nMessage:  publishes on ferry.out.acme.users\n", res.stdout)

	res = srv.run(t, "", "destinations", "test", "nope")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: test destination nope: destination \"nope\" not found\n", res.stderr)

	res = srv.run(t, "", "destinations")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "destinations needs a subcommand: test")
}

func TestRunsGetDeliveries(t *testing.T) {
	srv := startServer(t)
	run := exportRun(ferryv1.RunStatus_RUN_STATUS_RUNNING, &ferryv1.RunOutput{Name: "users.jsonl", Size: 120, Sha256: "aa11", Rows: 3})
	run.Note = "redelivering"
	ts := func(minute, second int) *timestamppb.Timestamp {
		return timestamppb.New(at(minute).AsTime().Add(time.Duration(second) * time.Second))
	}
	run.Deliveries = []*ferryv1.Delivery{
		{Destination: "bus", Kind: "nats", Status: ferryv1.DeliveryStatus_DELIVERY_STATUS_SUCCEEDED, Locations: []string{"ferry.out.acme.users"},
			Attempts: []*ferryv1.DeliveryAttempt{{Number: 1, StartTime: at(31), EndTime: ts(31, 1), Outcome: "succeeded", Message: "published 1 message"}}},
		{Destination: "partner-sftp", Kind: "sftp", Status: ferryv1.DeliveryStatus_DELIVERY_STATUS_PENDING, Error: "connection refused",
			NextAttemptTime: at(33),
			Attempts: []*ferryv1.DeliveryAttempt{
				{Number: 1, StartTime: at(31), EndTime: ts(31, 5), Outcome: "retry", ErrorClass: "transient", Message: "connection refused", NextAttemptTime: at(32)},
				{Number: 2, StartTime: at(32), EndTime: ts(32, 5), Outcome: "retry", ErrorClass: "transient", Message: "connection refused", NextAttemptTime: at(33)},
			}},
	}
	srv.runs.runs["exp-1"] = run
	res := srv.run(t, "", "runs", "get", "exp-1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, `ID:        exp-1
Kind:      export
Profile:   users-nightly (version 1)
Dataset:   users
Trigger:   manual
Status:    running
Created:   2026-03-04T05:30:00Z
Started:   2026-03-04T05:30:00Z
Ended:     2026-03-04T05:31:00Z
Duration:  1m0s
Rows:      3
Note:      redelivering
Outputs:   1 file
NAME          ROLE   ROWS   SIZE   SHA-256
users.jsonl   -      3      120    aa11
Deliveries: 2
DESTINATION    KIND   STATUS      ATTEMPTS   NEXT ATTEMPT           ERROR                LOCATIONS
bus            nats   succeeded   1          -                      -                    ferry.out.acme.users
partner-sftp   sftp   pending     2          2026-03-04T05:33:00Z   connection refused   -
Attempts:
DESTINATION    #   STARTED                ENDED                  OUTCOME     CLASS       MESSAGE
bus            1   2026-03-04T05:31:00Z   2026-03-04T05:31:01Z   succeeded   -           published 1 message
partner-sftp   1   2026-03-04T05:31:00Z   2026-03-04T05:31:05Z   retry       transient   connection refused
partner-sftp   2   2026-03-04T05:32:00Z   2026-03-04T05:32:05Z   retry       transient   connection refused
`, res.stdout)
}

func TestRunsRedeliver(t *testing.T) {
	srv := startServer(t)
	srv.runs.runs["exp-1"] = exportRun(ferryv1.RunStatus_RUN_STATUS_FAILED)
	res := srv.run(t, "", "runs", "redeliver", "exp-1")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "run exp-1 is delivering again to every destination (follow it with: ferry runs get exp-1)\n", res.stdout)

	res = srv.run(t, "", "runs", "redeliver", "exp-1", "--destination", "partner-sftp")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "run exp-1 is delivering again to partner-sftp (follow it with: ferry runs get exp-1)\n", res.stdout)
	requireProtos(t, []*ferryv1.RedeliverRunRequest{{Id: "exp-1"}, {Id: "exp-1", Destination: "partner-sftp"}}, srv.runs.redelivered)

	srv.runs.runs["exp-1"].Status = ferryv1.RunStatus_RUN_STATUS_RUNNING
	res = srv.run(t, "", "runs", "redeliver", "exp-1")
	require.Equal(t, 1, res.code)
	require.Equal(t, "ferry: redeliver run exp-1: run exp-1 is running; only a succeeded or failed export run can be delivered again\n", res.stderr)

	res = srv.run(t, "", "help", "runs", "redeliver")
	require.Equal(t, 0, res.code)
	require.Contains(t, res.stdout, "--destination destination")
}
