package textenc

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestStorable(t *testing.T) {
	marker := string([]byte{MarkerStart}) + "17" + string([]byte{MarkerEnd})
	require.Equal(t, "a\uFFFDb", Storable("a"+marker+"b"), "an invalid-byte marker")
	require.Equal(t, "x\uFFFDy", Storable("x\xc3y"), "invalid UTF-8")
	require.Equal(t, "n\u2400ul", Storable("n\x00ul"), "NUL")
	require.Equal(t, "Zoë", Storable("Zoë"))
	require.Equal(t, []string{"\u2400", "ok"}, StorableAll([]string{"\x00", "ok"}))
}
