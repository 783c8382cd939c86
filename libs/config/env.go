// Package config binds flags to FERRY_* environment variables and validates
// configuration. Order of precedence: flag defaults, then environment, then
// command-line flags.
package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvName returns the environment variable that sets the flag name:
// "grpc-addr" becomes "FERRY_GRPC_ADDR".
func EnvName(flagName string) string {
	r := strings.NewReplacer("-", "_", ".", "_")
	return "FERRY_" + strings.ToUpper(r.Replace(flagName))
}

// Parse parses args into fs, after setting every flag that was not given on the
// command line from its FERRY_* environment variable. Extra names (such as
// DATABASE_URL) can be given per flag in aliases; FERRY_* wins over an alias.
func Parse(fs *flag.FlagSet, args []string, aliases map[string]string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []string
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := EnvName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			alias, has := aliases[f.Name]
			if !has {
				return
			}
			if v, ok = os.LookupEnv(alias); !ok {
				return
			}
			name = alias
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Sprintf("%s=%q: %v", name, v, err))
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("environment: %s", strings.Join(errs, "; "))
	}
	return nil
}
