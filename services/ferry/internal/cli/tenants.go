package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

func setupWhoAmI(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.tenants.WhoAmI(ctx, &ferryv1.WhoAmIRequest{})
		if err != nil {
			return fmt.Errorf("whoami: %w", err)
		}
		fmt.Fprintf(s.stdout, "tenant %s (id %s)\n", resp.GetTenant().GetName(), resp.GetTenant().GetId())
		fmt.Fprintf(s.stdout, "key    %s\n", describeKey(resp.GetKey()))
		return nil
	}
}

func setupTenantsCreate(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.tenants.CreateTenant(ctx, &ferryv1.CreateTenantRequest{Name: args[0]})
		if err != nil {
			return fmt.Errorf("create tenant %s: %w", args[0], err)
		}
		fmt.Fprintf(s.stdout, "tenant %s created (id %s)\n", resp.GetTenant().GetName(), resp.GetTenant().GetId())
		fmt.Fprintf(s.stdout, "key    %s\n", describeKey(resp.GetKey()))
		fmt.Fprintf(s.stdout, "secret %s\n", resp.GetSecret())
		fmt.Fprintln(s.stderr, "Store the secret now: it is not shown again.")
		return nil
	}
}

func setupKeysCreate(fs *flag.FlagSet) action {
	admin := fs.Bool("admin", false, "let the key manage keys and, in the default tenant, tenants")
	return func(ctx context.Context, s *session, args []string) error {
		c, err := s.clients()
		if err != nil {
			return err
		}
		resp, err := c.tenants.CreateAPIKey(ctx, &ferryv1.CreateAPIKeyRequest{Name: args[0], Admin: *admin})
		if err != nil {
			return fmt.Errorf("create key %s: %w", args[0], err)
		}
		fmt.Fprintf(s.stdout, "key    %s created\n", describeKey(resp.GetKey()))
		fmt.Fprintf(s.stdout, "secret %s\n", resp.GetSecret())
		fmt.Fprintln(s.stderr, "Store the secret now: it is not shown again.")
		return nil
	}
}

// describeKey names a key: "ci (id k_123, admin)".
func describeKey(k *ferryv1.APIKey) string {
	s := fmt.Sprintf("%s (id %s", k.GetName(), k.GetId())
	if k.GetAdmin() {
		s += ", admin"
	}
	return s + ")"
}

func trimEnum(name, prefix string) string {
	return strings.ToLower(strings.TrimPrefix(name, prefix))
}
