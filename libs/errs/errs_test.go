package errs

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code codes.Code
		msg  string
	}{
		{"not found", NotFound("dataset %q not found", "users"), codes.NotFound, `dataset "users" not found`},
		{"wrapped", fmt.Errorf("load: %w", Invalid("bad name")), codes.InvalidArgument, "load: bad name"},
		{"unknown hides detail", errors.New("pq: secret detail"), codes.Internal, "internal error"},
		{"canceled", context.Canceled, codes.Canceled, "context canceled"},
		{"status passes", status.Error(codes.Aborted, "x"), codes.Aborted, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := status.FromError(ToStatus(tt.err))
			require.True(t, ok)
			require.Equal(t, tt.code, s.Code())
			require.Equal(t, tt.msg, s.Message())
		})
	}
	require.NoError(t, ToStatus(nil))
}

func TestFromCode(t *testing.T) {
	err := FromCode(codes.NotFound, "gone")
	require.True(t, Is(err, KindNotFound))
	require.Equal(t, codes.NotFound, Code(err))
}
