package pull

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	ferryv1 "github.com/ferrydata/ferry/proto/gen/go/ferry/v1"
)

// TestRequestedPoll: a source polled hourly polls at once when a schedule
// requests it, and once more a few seconds later, which takes the file the
// requested poll saw.
func TestRequestedPoll(t *testing.T) {
	e := setup(t, &ferryv1.SFTPSource{Connection: "inbox", PollIntervalSeconds: 3600})
	e.start(t, Options{})
	var polled *time.Time
	eventually(t, "first poll", func() bool {
		err := e.pool.QueryRow(context.Background(), `SELECT last_poll_at FROM ferry.sftp_sources WHERE profile_id = $1`, e.profile).Scan(&polled)
		return err == nil && polled != nil
	})
	e.put(t, "a.csv", "id\n1\n", past)
	time.Sleep(time.Second)
	require.Empty(t, e.imp.taken(), "not polled before the hour without a request")

	start := time.Now()
	e.exec(t, `UPDATE ferry.sftp_sources SET poll_requested_at = now() WHERE profile_id = $1`, e.profile)
	eventually(t, "a.csv imported after the requested poll and the one after it", func() bool { return len(e.imp.taken()) == 1 })
	require.Less(t, time.Since(start), 15*time.Second)
	// The poll records that it served the requests after it took the file:
	// wait for that, not for the file.
	eventually(t, "the request and the poll after it served", func() bool {
		var requested, again *time.Time
		err := e.pool.QueryRow(context.Background(), `SELECT poll_requested_at, poll_again_at FROM ferry.sftp_sources WHERE profile_id = $1`,
			e.profile).Scan(&requested, &again)
		return err == nil && requested == nil && again == nil
	})
}
