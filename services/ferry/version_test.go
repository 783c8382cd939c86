package main

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVersion: `ferry version` names the release the binary was built for
// ("dev" unless -ldflags set main.version) and the Go it was built with.
func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		var out, errOut bytes.Buffer
		require.Zero(t, run(context.Background(), []string{arg}, nil, &out, &errOut), errOut.String())
		require.Equal(t, "ferry dev ("+runtime.Version()+")\n", out.String())
	}
}
