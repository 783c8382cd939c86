// Package cli implements the ferry command-line client: a thin gRPC client of
// the Ferry API that applies YAML resources, lists them, uploads files into
// import runs and follows runs to their end.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ferrydata/ferry/libs/config"
)

const defaultAddr = "127.0.0.1:9090"

// usageText is what `ferry help` prints. The server command is run by main.go;
// it is listed so that the help names every command of the binary.
const usageText = `ferry is the command-line client of a Ferry server.

Usage:
  ferry [global flags] COMMAND [ARGS] [flags]

Commands:
  apply -f FILE [-f FILE]...      create or update datasets, cross-references, templates, destinations, import and export profiles from YAML ("-f -" reads stdin; --dry-run checks only)
  get datasets [NAME]             list datasets, or show one
  get profiles [NAME]             list import profiles, or show one (--version N: an earlier version)
  get xrefs [NAME]                list cross-reference tables, or show the entries of one
  get templates [NAME]            list export templates, or show one
  get exports [NAME]              list export profiles and whether they can run, or show one (--version N: an earlier version)
  get destinations [NAME]         list destinations (never their credentials: only which are set), or show one
  get runs [ID]                   list runs newest first (--profile, --status, --limit), or show one
  import PROFILE FILE [--wait]    upload FILE ("-" for stdin) into a new run of PROFILE and print the run id
  import PROFILE FILE --dry-run   parse, map and validate FILE and show what it would do, writing nothing
  export PROFILE [--wait]         start a run of the export profile PROFILE and print the run id
  export PROFILE --out FILE       also wait for the run and write its first file to FILE ("-" for stdout)
  sniff FILE [-o yaml]            propose how to read FILE (format, encoding, dialect, header) and show its first rows
  runs get RUN                    show a run in detail, an export run with its deliveries and their attempts
  runs watch RUN                  follow a run until it ends; exit 1 if it failed or was canceled
  runs rejects RUN                write the reject report (original columns + _row,_column,_value,_error); --table, --csv list
  runs approve RUN                apply a mirror run held for approval
  runs held RUN                   list rows held for missing cross-reference entries
  runs reapply RUN [--wait]       start a run of a run's held rows
  runs cancel RUN                 cancel a run that has not been applied
  runs download RUN [--out FILE]  write a file of an export run (--output NAME; default: the server's file name, --force overwrites)
  runs redeliver RUN              deliver an ended export run's files again (--destination NAME: to one destination only)
  destinations test NAME          connect to a destination without delivering: show an SFTP server's host key to pin, check the directory; exit 1 if not ok
  share RUN [--ttl 24h]           create a download link to a file of an export run (--output NAME) and print its token, path and expiry
  share --profile PROFILE         create a download link to the latest file of an export profile
  share revoke TOKEN              end a download link now
  xref load NAME FILE [--replace] load entries from a CSV with the header external,internal[,primary]
  xref lookup NAME VALUE...       translate external values (--reverse: internal values)
  whoami                          show the tenant and API key in use
  tenants create NAME             create a tenant and its first admin key (admin keys of the default tenant)
  keys create NAME [--admin]      create an API key for your tenant (admin keys only)
  server                          run the Ferry server (see "ferry server -h")
  help [COMMAND]                  show this help, or the flags of one command

Global flags (before or after the command):
  --addr HOST:PORT     server address (env FERRY_ADDR, default 127.0.0.1:9090)
  --api-key KEY        API key, sent as "authorization: Bearer KEY" (env FERRY_API_KEY)
  --timeout DURATION   time limit of each request, not of uploads or watches (env FERRY_TIMEOUT, default 30s)
  --tls                connect with TLS, trusting the system's root certificates (env FERRY_TLS)

Output:
  get prints a table by default; -o yaml prints datasets, profiles, cross-references, templates,
  export profiles and destinations as documents that "ferry apply" reads back (destinations without
  their credentials, which applying keeps), and -o json prints the API's JSON form.

Exit status: 0 on success, 1 when a request or a run failed, 2 on a usage error or a missing API key.
`

// command is one ferry subcommand.
type command struct {
	// name is the command as typed, one or two words ("runs watch").
	name string
	// args describes the positional arguments in help.
	args    string
	summary string
	minArgs int
	// maxArgs is the most positional arguments allowed; -1 means any number.
	maxArgs int
	// setup registers the command's own flags and returns the action that
	// reads them.
	setup func(fs *flag.FlagSet) action
}

// action runs a command with its positional arguments once flags are parsed.
type action func(ctx context.Context, s *session, args []string) error

// commands lists every command in the order help shows them.
var commands = []*command{
	{name: "apply", args: "-f FILE [-f FILE]...", summary: "Create or update the datasets, cross-reference tables, templates, destinations, import profiles and export profiles described in YAML files.", maxArgs: 0, setup: setupApply},
	{name: "get", args: "datasets|profiles|xrefs|templates|exports|destinations|runs [NAME]", summary: "List datasets, import profiles, cross-reference tables, templates, export profiles, destinations or runs, or show one by name (runs by id).", minArgs: 1, maxArgs: 2, setup: setupGet},
	{name: "import", args: "PROFILE FILE", summary: `Upload FILE ("-" for stdin) into a new run of the import profile PROFILE and print the run's id.`, minArgs: 2, maxArgs: 2, setup: setupImport},
	{name: "run", args: "PROFILE", summary: "Start a run of the export profile PROFILE (a draft too) and print the run's id; the same --idempotency-key returns the run it started; --wait follows it to its end.", minArgs: 1, maxArgs: 1, setup: setupRun},
	{name: "export", args: "PROFILE", summary: "Start a run of the export profile PROFILE and print the run's id; --wait follows it to its end, --out also writes its first file.", minArgs: 1, maxArgs: 1, setup: setupExport},
	{name: "sniff", args: "FILE", summary: "Propose format, encoding, dialect or sheet, and header for FILE, and show its first rows as they would be parsed.", minArgs: 1, maxArgs: 1, setup: setupSniff},
	{name: "runs get", args: "RUN", summary: "Show a run in detail.", minArgs: 1, maxArgs: 1, setup: setupRunsGet},
	{name: "runs watch", args: "RUN", summary: "Follow a run until it ends; exit 1 if it failed or was canceled.", minArgs: 1, maxArgs: 1, setup: setupRunsWatch},
	{name: "runs rejects", args: "RUN", summary: "Write a run's reject report: the original columns plus _row, _column, _value and _error, ready to fix and import again (--table, --csv for lists).", minArgs: 1, maxArgs: 1, setup: setupRunsRejects},
	{name: "runs approve", args: "RUN", summary: "Apply a mirror run that the profile's maxChangePercent guard holds for approval.", minArgs: 1, maxArgs: 1, setup: setupRunsApprove},
	{name: "runs held", args: "RUN", summary: "List the rows a run held because a cross-reference table lacks their value.", minArgs: 1, maxArgs: 1, setup: setupRunsHeld},
	{name: "runs reapply", args: "RUN", summary: "Start a run of a run's held rows (after adding the missing cross-reference entries) and print its id.", minArgs: 1, maxArgs: 1, setup: setupRunsReapply},
	{name: "runs cancel", args: "RUN", summary: "Cancel a run that has not been applied (or awaits approval); nothing of it is applied.", minArgs: 1, maxArgs: 1, setup: setupRunsCancel},
	{name: "runs download", args: "RUN", summary: `Write a file of an export run: to the file name the server sends, in the current directory, or to --out FILE ("-" for stdout). The file appears only once complete; an existing file is kept unless --force.`, minArgs: 1, maxArgs: 1, setup: setupRunsDownload},
	{name: "runs redeliver", args: "RUN", summary: "Deliver the files of an ended export run again, under the same names, to every destination of the run or to --destination NAME; the run is running until the deliveries end.", minArgs: 1, maxArgs: 1, setup: setupRunsRedeliver},
	{name: "destinations test", args: "NAME", summary: "Connect to a destination without delivering anything. For SFTP: show the host key the server presents (its fingerprint and a known_hosts line to pin), whether it matches the pin, and whether the directory is writable; with a pin that does not match, nothing is sent to the server. Exit 1 when a delivery could not work now.", minArgs: 1, maxArgs: 1, setup: setupDestinationsTest},
	{name: "share", args: "RUN | --profile PROFILE", summary: "Create a download link to a file of an export run, or to the latest file of an export profile, and print its token, its path on the server's HTTP port and when it expires.", maxArgs: 1, setup: setupShare},
	{name: "share revoke", args: "TOKEN", summary: "End a download link now.", minArgs: 1, maxArgs: 1, setup: setupShareRevoke},
	{name: "xref load", args: "NAME FILE", summary: `Load the entries of a CSV file ("-" for stdin) with the header external,internal[,primary] into a cross-reference table, in one request that applies whole or not at all: entries are added, or changed when their external value is in the table; --replace removes the others.`, minArgs: 2, maxArgs: 2, setup: setupXRefLoad},
	{name: "xref lookup", args: "NAME VALUE...", summary: "Translate external values to internal ones (--reverse: internal to external); exit 1 if a value is not found.", minArgs: 2, maxArgs: -1, setup: setupXRefLookup},
	{name: "whoami", summary: "Show the tenant and API key in use.", setup: setupWhoAmI},
	{name: "tenants create", args: "NAME", summary: "Create a tenant and its first admin key; the key's secret is shown once.", minArgs: 1, maxArgs: 1, setup: setupTenantsCreate},
	{name: "keys create", args: "NAME", summary: "Create an API key for your tenant; the key's secret is shown once.", minArgs: 1, maxArgs: 1, setup: setupKeysCreate},
}

// Run executes one CLI command (args without the program name, e.g. ["apply", "-f", "x.yaml"]) and returns the process exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := &session{stdin: stdin, stdout: stdout, stderr: stderr}
	defer s.close()
	return s.report(s.run(ctx, args))
}

// run parses args, finds the command and runs it.
func (s *session) run(ctx context.Context, args []string) error {
	globals := s.globalFlags()

	// Global flags may come before the command name.
	i := 0
	for i < len(args) {
		n, _, err := flagTokens(args, i, globals)
		if errors.Is(err, errHelp) {
			_, _ = io.WriteString(s.stdout, usageText)
			return nil
		}
		if err != nil {
			return usageErrorf("", "%v", err)
		}
		if n == 0 {
			break
		}
		i += n
	}
	lead, rest := args[:i], args[i:]
	if len(rest) == 0 {
		_, _ = io.WriteString(s.stderr, usageText)
		return &exitError{code: 2}
	}
	if rest[0] == "help" {
		return s.help(rest[1:])
	}
	cmd, n := lookup(rest)
	if cmd == nil {
		return unknownCommand(rest)
	}

	fs := newFlagSet(cmd.name)
	act := cmd.setup(fs)
	globalArgs, cmdArgs, positional, err := splitArgs(append(append([]string{}, lead...), rest[n:]...), globals, fs)
	if errors.Is(err, errHelp) {
		s.commandHelp(cmd, globals, fs)
		return nil
	}
	if err != nil {
		return usageErrorf(cmd.name, "%v", err)
	}
	if err := config.Parse(globals, globalArgs, nil); err != nil {
		return usageErrorf(cmd.name, "%v", err)
	}
	if err := fs.Parse(cmdArgs); err != nil {
		return usageErrorf(cmd.name, "%v", err)
	}
	if len(positional) < cmd.minArgs || (cmd.maxArgs >= 0 && len(positional) > cmd.maxArgs) {
		return usageErrorf(cmd.name, "usage: ferry %s %s", cmd.name, cmd.args)
	}
	if s.addr == "" {
		return usageErrorf(cmd.name, "no server address: set --addr or FERRY_ADDR")
	}
	if s.apiKey == "" {
		return usageErrorf(cmd.name, "no API key: set --api-key or FERRY_API_KEY")
	}
	if s.timeout <= 0 {
		return usageErrorf(cmd.name, "--timeout must be positive, got %s", s.timeout)
	}
	return act(ctx, s, positional)
}

// globalFlags returns the flag set of the flags every command accepts. Only
// these are read from FERRY_* environment variables: a command's own flags
// coming from the environment would silently change what scripts do.
func (s *session) globalFlags() *flag.FlagSet {
	fs := newFlagSet("global")
	fs.StringVar(&s.addr, "addr", defaultAddr, "server `address` as host:port")
	fs.StringVar(&s.apiKey, "api-key", "", "API `key`, sent as \"authorization: Bearer KEY\"")
	fs.DurationVar(&s.timeout, "timeout", 30*time.Second, "time limit of each request, not of uploads or watches")
	fs.BoolVar(&s.tls, "tls", false, "connect with TLS, trusting the system's root certificates")
	return fs
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// lookup finds the command named by the first one or two words of args and
// returns it with the number of words its name takes. The longest name wins:
// "share revoke T" is share revoke, "share R" is share.
func lookup(args []string) (*command, int) {
	var (
		found *command
		n     int
	)
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) < len(words) || len(words) <= n {
			continue
		}
		if strings.Join(args[:len(words)], " ") == c.name {
			found, n = c, len(words)
		}
	}
	return found, n
}

// unknownCommand explains what the user could have meant.
func unknownCommand(args []string) error {
	var subs []string
	for _, c := range commands {
		if first, second, ok := strings.Cut(c.name, " "); ok && first == args[0] {
			subs = append(subs, second)
		}
	}
	switch {
	case len(subs) > 0 && (len(args) == 1 || strings.HasPrefix(args[1], "-")):
		return usageErrorf("", "%s needs a subcommand: %s", args[0], strings.Join(subs, ", "))
	case len(subs) > 0:
		return usageErrorf("", "unknown command %q (want %s %s)", args[0]+" "+args[1], args[0], strings.Join(subs, "|"))
	case args[0] == "server":
		return usageErrorf("", "the server command is not available in this build")
	default:
		return usageErrorf("", "unknown command %q", args[0])
	}
}

// help prints the general usage or that of one command.
func (s *session) help(args []string) error {
	if len(args) == 0 {
		_, _ = io.WriteString(s.stdout, usageText)
		return nil
	}
	cmd, _ := lookup(args)
	if cmd == nil {
		return unknownCommand(args)
	}
	fs := newFlagSet(cmd.name)
	cmd.setup(fs)
	s.commandHelp(cmd, s.globalFlags(), fs)
	return nil
}

// commandHelp prints the usage and flags of one command.
func (s *session) commandHelp(cmd *command, globals, fs *flag.FlagSet) {
	w := s.stdout
	fmt.Fprintf(w, "Usage: ferry %s %s\n\n%s\n", cmd.name, cmd.args, cmd.summary)
	printFlags := func(title string, fs *flag.FlagSet) {
		first := true
		fs.VisitAll(func(f *flag.Flag) {
			if first {
				fmt.Fprintf(w, "\n%s:\n", title)
				first = false
			}
			dash := "--"
			if len(f.Name) == 1 {
				dash = "-"
			}
			arg, usage := flag.UnquoteUsage(f)
			if _, ok := f.Value.(boolFlag); ok {
				arg = ""
			}
			line := "  " + dash + f.Name
			if arg != "" {
				line += " " + arg
			}
			line += "\n      " + usage
			if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" {
				line += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			if fs == globals {
				line += fmt.Sprintf(" [env %s]", config.EnvName(f.Name))
			}
			fmt.Fprintln(w, line)
		})
	}
	printFlags("Flags", fs)
	printFlags("Global flags", globals)
}

// usageError is a mistake in the command line; it exits with status 2.
type usageError struct {
	cmd string
	msg string
}

func (e *usageError) Error() string { return e.msg }

func usageErrorf(cmd, format string, args ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// exitError ends the command with a status after its message was printed.
type exitError struct {
	code int
}

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// report prints err, if any, and returns the exit status it stands for.
func (s *session) report(err error) int {
	if err == nil {
		return 0
	}
	var exit *exitError
	if errors.As(err, &exit) {
		return exit.code
	}
	var usage *usageError
	if errors.As(err, &usage) {
		fmt.Fprintf(s.stderr, "ferry: %s\n", usage.msg)
		if usage.cmd != "" {
			fmt.Fprintf(s.stderr, "Run \"ferry help %s\" for usage.\n", usage.cmd)
		} else {
			fmt.Fprintln(s.stderr, `Run "ferry help" for usage.`)
		}
		return 2
	}
	fmt.Fprintf(s.stderr, "ferry: %v\n", err)
	if hint := s.hint(err); hint != "" {
		fmt.Fprintf(s.stderr, "ferry: %s\n", hint)
	}
	return 1
}

// hint suggests what to check for errors whose message rarely says it.
func (s *session) hint(err error) string {
	var rpc *rpcError
	if !errors.As(err, &rpc) {
		return ""
	}
	switch rpc.st.Code() {
	case codes.Unavailable:
		return fmt.Sprintf("is a Ferry server listening on %s? (--addr, FERRY_ADDR)", s.addr)
	case codes.Unauthenticated:
		return "check the API key (--api-key, FERRY_API_KEY)"
	case codes.DeadlineExceeded:
		return fmt.Sprintf("the request took longer than --timeout (%s)", s.timeout)
	case codes.ResourceExhausted:
		return "the request is larger than the server accepts (its --grpc-max-recv-msg-size); send less at once, e.g. load a file in parts without --replace"
	}
	return ""
}

// rpcError is a gRPC error whose text is only the status message, so that
// errors read "ferry: get dataset users: dataset users not found". It keeps
// the status for status.Code.
type rpcError struct {
	st *status.Status
}

func (e *rpcError) Error() string {
	if msg := e.st.Message(); msg != "" {
		return msg
	}
	return e.st.Code().String()
}

// GRPCStatus returns the status the error was made from.
func (e *rpcError) GRPCStatus() *status.Status { return e.st }

// fromRPC turns a gRPC status error into an *rpcError and leaves any other
// error, such as io.EOF, as it is.
func fromRPC(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var rpc *rpcError
	if errors.As(err, &rpc) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	return &rpcError{st: st}
}
