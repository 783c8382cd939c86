package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"
)

// errHelp is returned when -h or --help is on the command line.
var errHelp = errors.New("help requested")

// boolFlag is implemented by flag values that take no argument.
type boolFlag interface{ IsBoolFlag() bool }

// flagTokens reports how many tokens from args[i] on make up one flag of the
// given sets, and which set it belongs to. It returns 0 when args[i] is not a
// flag ("-" alone is an argument: stdin).
func flagTokens(args []string, i int, sets ...*flag.FlagSet) (int, *flag.FlagSet, error) {
	tok := args[i]
	if len(tok) < 2 || tok[0] != '-' || tok == "--" {
		return 0, nil, nil
	}
	name := strings.TrimPrefix(strings.TrimPrefix(tok, "-"), "-")
	name, _, inline := strings.Cut(name, "=")
	for _, fs := range sets {
		if fs == nil {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(boolFlag); inline || (ok && b.IsBoolFlag()) {
			return 1, fs, nil
		}
		if i+1 >= len(args) {
			return 0, nil, fmt.Errorf("flag %s needs a value", tok)
		}
		return 2, fs, nil
	}
	if name == "h" || name == "help" {
		return 0, nil, errHelp
	}
	return 0, nil, fmt.Errorf("unknown flag %s", tok)
}

// splitArgs sorts a command line into the global flags, the command's flags
// and the positional arguments, so that flags may come before, between or
// after arguments. Everything after "--" is an argument.
func splitArgs(args []string, globals, cmd *flag.FlagSet) (globalArgs, cmdArgs, positional []string, err error) {
	for i := 0; i < len(args); {
		if args[i] == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		n, fs, err := flagTokens(args, i, globals, cmd)
		if err != nil {
			return nil, nil, nil, err
		}
		switch {
		case n == 0:
			positional = append(positional, args[i])
			n = 1
		case fs == globals:
			globalArgs = append(globalArgs, args[i:i+n]...)
		default:
			cmdArgs = append(cmdArgs, args[i:i+n]...)
		}
		i += n
	}
	return globalArgs, cmdArgs, positional, nil
}
