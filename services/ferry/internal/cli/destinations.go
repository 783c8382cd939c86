package cli

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"google.golang.org/protobuf/proto"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// destinationSpec is the spec of a Destination document. Credentials may
// be given inline, from a file (read by the CLI, relative to the document's
// file) or from an environment variable; get -o yaml never prints them,
// only secretsSet, which apply ignores.
type destinationSpec struct {
	SFTP       *sftpDestinationSpec    `json:"sftp,omitempty"`
	Webhook    *webhookDestinationSpec `json:"webhook,omitempty"`
	NATS       *natsDestinationSpec    `json:"nats,omitempty"`
	Internal   bool                    `json:"internal,omitempty"`
	Retry      *retrySpec              `json:"retry,omitempty"`
	SecretsSet []string                `json:"secretsSet,omitempty"`
}

type sftpDestinationSpec struct {
	Host           string `json:"host"`
	Port           int    `json:"port,omitempty"`
	Username       string `json:"username"`
	Password       string `json:"password,omitempty"`
	PasswordFile   string `json:"passwordFile,omitempty"`
	PasswordEnv    string `json:"passwordEnv,omitempty"`
	PrivateKey     string `json:"privateKey,omitempty"`
	PrivateKeyFile string `json:"privateKeyFile,omitempty"`
	PrivateKeyEnv  string `json:"privateKeyEnv,omitempty"`
	Passphrase     string `json:"passphrase,omitempty"`
	PassphraseFile string `json:"passphraseFile,omitempty"`
	PassphraseEnv  string `json:"passphraseEnv,omitempty"`
	HostKey        string `json:"hostKey"`
	Directory      string `json:"directory,omitempty"`
	Path           string `json:"path,omitempty"`
	CreateDirs     bool   `json:"createDirs,omitempty"`
	Overwrite      string `json:"overwrite,omitempty"`
	Gzip           bool   `json:"gzip,omitempty"`
	TimeoutSeconds int    `json:"timeoutSeconds,omitempty"`
}

type webhookDestinationSpec struct {
	URL            string `json:"url"`
	Mode           string `json:"mode,omitempty"`
	Secret         string `json:"secret,omitempty"`
	SecretFile     string `json:"secretFile,omitempty"`
	SecretEnv      string `json:"secretEnv,omitempty"`
	TimeoutSeconds int    `json:"timeoutSeconds,omitempty"`
	CACert         string `json:"caCert,omitempty"`
	CACertFile     string `json:"caCertFile,omitempty"`
	LinkTTLSeconds int64  `json:"linkTtlSeconds,omitempty"`
}

type natsDestinationSpec struct {
	Subject        string `json:"subject"`
	Mode           string `json:"mode,omitempty"`
	RowsPerMessage int    `json:"rowsPerMessage,omitempty"`
}

type retrySpec struct {
	MaxAttempts           int `json:"maxAttempts,omitempty"`
	InitialBackoffSeconds int `json:"initialBackoffSeconds,omitempty"`
	MaxBackoffSeconds     int `json:"maxBackoffSeconds,omitempty"`
}

// sftpSourceSpec is an import profile's SFTP source.
type sftpSourceSpec struct {
	Connection          string `json:"connection"`
	Directory           string `json:"directory,omitempty"`
	Glob                string `json:"glob,omitempty"`
	PollIntervalSeconds int    `json:"pollIntervalSeconds,omitempty"`
	AfterSuccess        string `json:"afterSuccess,omitempty"`
	ArchiveDirectory    string `json:"archiveDirectory,omitempty"`
	ErrorDirectory      string `json:"errorDirectory,omitempty"`
}

// credential reads one credential given inline, as a file or as an
// environment variable; at most one of them. Files are read relative to
// the document's file; a trailing line break is dropped when trim is set
// (passwords and secrets saved by an editor), kept for keys.
func (d *decoder) credential(path, key, inline, file, env string, trim bool) string {
	var given []string
	for i, v := range []string{inline, file, env} {
		if v != "" {
			given = append(given, key+[]string{"", "File", "Env"}[i])
		}
	}
	if len(given) > 1 {
		d.errorf(path, "give one of %s, not more", strings.Join(given, ", "))
		return ""
	}
	switch {
	case file != "":
		name := file
		if !filepath.IsAbs(name) && d.doc.file != stdinName {
			name = filepath.Join(filepath.Dir(d.doc.file), name)
		}
		b, err := os.ReadFile(name)
		if err != nil {
			d.errorf(path+"."+key+"File", "%v", err)
			return ""
		}
		v := string(b)
		if trim {
			v = strings.TrimRight(v, "\r\n")
		}
		if v == "" {
			d.errorf(path+"."+key+"File", "%s is empty", name)
		}
		return v
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			d.errorf(path+"."+key+"Env", "environment variable %s is not set", env)
		}
		return v
	}
	return inline
}

// destination validates a destination spec and converts it. The server
// checks the rest (hosts, URLs, pins, paths) against the merged spec and
// lists every problem.
func (d *decoder) destination(name string, spec *destinationSpec) *ferryv1.ApplyDestinationRequest {
	ds := &ferryv1.DestinationSpec{Internal: spec.Internal}
	kinds := 0
	if s := spec.SFTP; s != nil {
		kinds++
		p := "spec.sftp"
		sd := &ferryv1.SFTPDestination{Host: s.Host, Port: int32(s.Port), Username: s.Username, HostKey: s.HostKey, Directory: s.Directory,
			Path: s.Path, CreateDirs: s.CreateDirs, Gzip: s.Gzip, TimeoutSeconds: int32(s.TimeoutSeconds),
			Password:   d.credential(p, "password", s.Password, s.PasswordFile, s.PasswordEnv, true),
			PrivateKey: d.credential(p, "privateKey", s.PrivateKey, s.PrivateKeyFile, s.PrivateKeyEnv, false),
			Passphrase: d.credential(p, "passphrase", s.Passphrase, s.PassphraseFile, s.PassphraseEnv, true),
			Overwrite:  ferryv1.OverwritePolicy(d.enum(p+".overwrite", "value", ferryv1.OverwritePolicy_value, ferryv1.OverwritePolicy_name, "OVERWRITE_POLICY_", s.Overwrite)),
		}
		if s.Host == "" {
			d.errorf(p+".host", "missing")
		}
		if s.Username == "" {
			d.errorf(p+".username", "missing")
		}
		if s.Port < 0 || s.Port > 65535 {
			d.errorf(p+".port", "%d is not a port", s.Port)
		}
		if s.TimeoutSeconds < 0 {
			d.errorf(p+".timeoutSeconds", "must not be negative")
		}
		ds.Kind = &ferryv1.DestinationSpec_Sftp{Sftp: sd}
	}
	if w := spec.Webhook; w != nil {
		kinds++
		p := "spec.webhook"
		wd := &ferryv1.WebhookDestination{Url: w.URL, TimeoutSeconds: int32(w.TimeoutSeconds), LinkTtlSeconds: w.LinkTTLSeconds,
			Secret: d.credential(p, "secret", w.Secret, w.SecretFile, w.SecretEnv, true),
			CaCert: d.credential(p, "caCert", w.CACert, w.CACertFile, "", false),
			Mode:   ferryv1.WebhookMode(d.enum(p+".mode", "mode", ferryv1.WebhookMode_value, ferryv1.WebhookMode_name, "WEBHOOK_MODE_", w.Mode)),
		}
		if w.URL == "" {
			d.errorf(p+".url", "missing")
		}
		if w.TimeoutSeconds < 0 || w.LinkTTLSeconds < 0 {
			d.errorf(p, "timeoutSeconds and linkTtlSeconds must not be negative")
		}
		ds.Kind = &ferryv1.DestinationSpec_Webhook{Webhook: wd}
	}
	if n := spec.NATS; n != nil {
		kinds++
		p := "spec.nats"
		nd := &ferryv1.NATSDestination{Subject: n.Subject, RowsPerMessage: int32(n.RowsPerMessage),
			Mode: ferryv1.NATSMode(d.enum(p+".mode", "mode", ferryv1.NATSMode_value, ferryv1.NATSMode_name, "NATS_MODE_", n.Mode))}
		if n.Subject == "" {
			d.errorf(p+".subject", "missing")
		}
		if n.RowsPerMessage < 0 {
			d.errorf(p+".rowsPerMessage", "must not be negative")
		}
		ds.Kind = &ferryv1.DestinationSpec_Nats{Nats: nd}
	}
	if kinds != 1 {
		d.errorf("spec", "give exactly one of sftp, webhook or nats")
	}
	if r := spec.Retry; r != nil {
		ds.Retry = &ferryv1.RetryPolicy{MaxAttempts: int32(r.MaxAttempts), InitialBackoffSeconds: int32(r.InitialBackoffSeconds), MaxBackoffSeconds: int32(r.MaxBackoffSeconds)}
		if r.MaxAttempts < 0 || r.InitialBackoffSeconds < 0 || r.MaxBackoffSeconds < 0 {
			d.errorf("spec.retry", "values must not be negative")
		}
	}
	return &ferryv1.ApplyDestinationRequest{Name: name, Spec: ds}
}

// sftpSource validates an import profile's SFTP source and converts it.
func (d *decoder) sftpSource(s *sftpSourceSpec) *ferryv1.SFTPSource {
	if s.Connection == "" {
		d.errorf("spec.sftpSource.connection", "missing: name an SFTP destination")
	}
	if s.PollIntervalSeconds < 0 {
		d.errorf("spec.sftpSource.pollIntervalSeconds", "must not be negative")
	}
	return &ferryv1.SFTPSource{Connection: s.Connection, Directory: s.Directory, Glob: s.Glob, PollIntervalSeconds: int32(s.PollIntervalSeconds),
		ArchiveDirectory: s.ArchiveDirectory, ErrorDirectory: s.ErrorDirectory,
		AfterSuccess: ferryv1.AfterImport(d.enum("spec.sftpSource.afterSuccess", "value", ferryv1.AfterImport_value, ferryv1.AfterImport_name, "AFTER_IMPORT_", s.AfterSuccess))}
}

// sftpSourceResource is the document form of an SFTP source.
func sftpSourceResource(s *ferryv1.SFTPSource) *sftpSourceSpec {
	if s == nil {
		return nil
	}
	return &sftpSourceSpec{Connection: s.GetConnection(), Directory: s.GetDirectory(), Glob: s.GetGlob(), PollIntervalSeconds: int(s.GetPollIntervalSeconds()),
		AfterSuccess: enumName(int32(s.GetAfterSuccess()), ferryv1.AfterImport_name, "AFTER_IMPORT_"), ArchiveDirectory: s.GetArchiveDirectory(), ErrorDirectory: s.GetErrorDirectory()}
}

// destinationResource is the document form of a destination. It has no
// credentials (the server never returns them); applying it keeps the
// stored ones.
func destinationResource(dst *ferryv1.Destination) *resource {
	s := dst.GetSpec()
	spec := &destinationSpec{Internal: s.GetInternal(), SecretsSet: dst.GetSecretsSet()}
	if x := s.GetSftp(); x != nil {
		spec.SFTP = &sftpDestinationSpec{Host: x.GetHost(), Port: int(x.GetPort()), Username: x.GetUsername(), HostKey: x.GetHostKey(),
			Directory: x.GetDirectory(), Path: x.GetPath(), CreateDirs: x.GetCreateDirs(), Gzip: x.GetGzip(), TimeoutSeconds: int(x.GetTimeoutSeconds()),
			Overwrite: enumName(int32(x.GetOverwrite()), ferryv1.OverwritePolicy_name, "OVERWRITE_POLICY_")}
	}
	if x := s.GetWebhook(); x != nil {
		spec.Webhook = &webhookDestinationSpec{URL: x.GetUrl(), TimeoutSeconds: int(x.GetTimeoutSeconds()), CACert: x.GetCaCert(), LinkTTLSeconds: x.GetLinkTtlSeconds(),
			Mode: enumName(int32(x.GetMode()), ferryv1.WebhookMode_name, "WEBHOOK_MODE_")}
	}
	if x := s.GetNats(); x != nil {
		spec.NATS = &natsDestinationSpec{Subject: x.GetSubject(), RowsPerMessage: int(x.GetRowsPerMessage()),
			Mode: enumName(int32(x.GetMode()), ferryv1.NATSMode_name, "NATS_MODE_")}
	}
	if r := s.GetRetry(); r != nil {
		spec.Retry = &retrySpec{MaxAttempts: int(r.GetMaxAttempts()), InitialBackoffSeconds: int(r.GetInitialBackoffSeconds()), MaxBackoffSeconds: int(r.GetMaxBackoffSeconds())}
	}
	return &resource{APIVersion: apiVersion, Kind: kindDestination, Metadata: resourceMeta{Name: dst.GetName()}, Spec: spec}
}

// withoutCredentials is a copy of spec whose credentials are empty: what
// the server stores in the clear, and returns.
func withoutCredentials(spec *ferryv1.DestinationSpec) (*ferryv1.DestinationSpec, bool) {
	pub := proto.CloneOf(spec)
	given := false
	drop := func(v *string) {
		given = given || *v != ""
		*v = ""
	}
	if s := pub.GetSftp(); s != nil {
		drop(&s.Password)
		drop(&s.PrivateKey)
		drop(&s.Passphrase)
	}
	if w := pub.GetWebhook(); w != nil {
		drop(&w.Secret)
	}
	return pub, given
}

// destinationTarget says where a destination delivers, for tables; a
// webhook URL's query, which may carry a token, is not shown.
func destinationTarget(s *ferryv1.DestinationSpec) string {
	switch {
	case s.GetSftp() != nil:
		x := s.GetSftp()
		port := x.GetPort()
		if port == 0 {
			port = 22
		}
		dir := x.GetDirectory()
		if x.GetPath() != "" {
			dir = strings.TrimSuffix(dir, "/") + "/" + x.GetPath()
		}
		return fmt.Sprintf("%s@%s:%d %s", x.GetUsername(), x.GetHost(), port, dir)
	case s.GetWebhook() != nil:
		u, err := url.Parse(s.GetWebhook().GetUrl())
		if err != nil {
			return s.GetWebhook().GetUrl()
		}
		if u.RawQuery != "" {
			u.RawQuery = "…"
		}
		u.User, u.Fragment = nil, ""
		return u.String()
	case s.GetNats() != nil:
		return "subject " + s.GetNats().GetSubject()
	}
	return ""
}

func destinationKind(s *ferryv1.DestinationSpec) string {
	switch {
	case s.GetSftp() != nil:
		return "sftp"
	case s.GetWebhook() != nil:
		return "webhook"
	case s.GetNats() != nil:
		return "nats"
	}
	return ""
}

func (s *session) getDestinations(ctx context.Context, c *clients, name string, o getOptions) error {
	var list []*ferryv1.Destination
	var whole proto.Message
	if name != "" {
		resp, err := c.destinations.GetDestination(ctx, &ferryv1.GetDestinationRequest{Name: name})
		if err != nil {
			return fmt.Errorf("get destination %s: %w", name, err)
		}
		list = []*ferryv1.Destination{resp.GetDestination()}
		whole = resp.GetDestination()
	} else {
		resp, err := c.destinations.ListDestinations(ctx, &ferryv1.ListDestinationsRequest{})
		if err != nil {
			return fmt.Errorf("list destinations: %w", err)
		}
		list = resp.GetDestinations()
		whole = resp
	}
	switch o.output {
	case "json":
		return s.printJSON(whole)
	case "yaml":
		docs := make([]any, 0, len(list))
		for _, d := range list {
			docs = append(docs, destinationResource(d))
		}
		return s.printYAML(docs...)
	}
	if len(list) == 0 {
		fmt.Fprintln(s.stderr, "No destinations found.")
		return nil
	}
	t := newTable(s.stdout, "NAME", "KIND", "TARGET", "SECRETS")
	for _, d := range list {
		t.row(d.GetName(), destinationKind(d.GetSpec()), destinationTarget(d.GetSpec()), strings.Join(d.GetSecretsSet(), ","))
	}
	return t.flush()
}

func setupDestinationsTest(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.destinations.TestDestination(ctx, &ferryv1.TestDestinationRequest{Name: args[0]})
		if err != nil {
			return fmt.Errorf("test destination %s: %w", args[0], err)
		}
		tw := tabwriter.NewWriter(s.stdout, 0, 8, 2, ' ', 0)
		yesNo := func(b bool) string {
			if b {
				return "yes"
			}
			return "no"
		}
		if resp.GetHostKeyFingerprint() != "" {
			fmt.Fprintf(tw, "Host key:\t%s\n", resp.GetHostKeyFingerprint())
			fmt.Fprintf(tw, "known_hosts:\t%s\n", resp.GetHostKeyLine())
			fmt.Fprintf(tw, "Matches pin:\t%s\n", yesNo(resp.GetHostKeyMatches()))
			fmt.Fprintf(tw, "Writable:\t%s\n", yesNo(resp.GetWritable()))
		}
		result := "ok"
		if !resp.GetOk() {
			result = "failed"
		}
		fmt.Fprintf(tw, "Result:\t%s\n", result)
		fmt.Fprintf(tw, "Message:\t%s\n", resp.GetMessage())
		if err := tw.Flush(); err != nil {
			return err
		}
		if resp.GetHostKeyFingerprint() != "" && !resp.GetHostKeyMatches() {
			fmt.Fprintf(s.stdout, "\nIf %s is the server's key (check with its operator), pin it:\n  hostKey: %q\n",
				resp.GetHostKeyFingerprint(), resp.GetHostKeyLine())
		}
		if !resp.GetOk() {
			return &exitError{code: 1}
		}
		return nil
	}
}

func setupRunsRedeliver(fs *flag.FlagSet) action {
	destination := fs.String("destination", "", "deliver to this `destination` of the run only (default: every destination)")
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.runs.RedeliverRun(ctx, &ferryv1.RedeliverRunRequest{Id: args[0], Destination: *destination})
		if err != nil {
			return fmt.Errorf("redeliver run %s: %w", args[0], err)
		}
		id := resp.GetRun().GetId()
		to := "every destination"
		if *destination != "" {
			to = *destination
		}
		fmt.Fprintf(s.stdout, "run %s is delivering again to %s (follow it with: ferry runs get %s)\n", id, to, id)
		return nil
	}
}

// printDeliveries lists an export run's deliveries, then every attempt.
func (s *session) printDeliveries(deliveries []*ferryv1.Delivery) error {
	t := newTable(s.stdout, "DESTINATION", "KIND", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "ERROR", "LOCATIONS")
	attempts := 0
	for _, d := range deliveries {
		next := ""
		if d.GetNextAttemptTime() != nil {
			next = formatTime(d.GetNextAttemptTime())
		}
		t.row(d.GetDestination(), d.GetKind(), enumName(int32(d.GetStatus()), ferryv1.DeliveryStatus_name, "DELIVERY_STATUS_"),
			strconv.Itoa(len(d.GetAttempts())), next, d.GetError(), strings.Join(d.GetLocations(), " "))
		attempts += len(d.GetAttempts())
	}
	if err := t.flush(); err != nil || attempts == 0 {
		return err
	}
	fmt.Fprintln(s.stdout, "Attempts:")
	t = newTable(s.stdout, "DESTINATION", "#", "STARTED", "ENDED", "OUTCOME", "CLASS", "MESSAGE")
	for _, d := range deliveries {
		for _, a := range d.GetAttempts() {
			t.row(d.GetDestination(), strconv.Itoa(int(a.GetNumber())), formatTime(a.GetStartTime()), formatTime(a.GetEndTime()),
				a.GetOutcome(), a.GetErrorClass(), a.GetMessage())
		}
	}
	return t.flush()
}
