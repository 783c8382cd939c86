package bus_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/ferrydata/ferry/libs/bus"
	"github.com/ferrydata/ferry/libs/testkit"
)

// freePorts returns n TCP ports free on the loopback interface.
func freePorts(t *testing.T, n int) []int {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		require.NoError(t, l.Close())
	}
	return ports
}

// startCluster starts a three-node JetStream cluster in the test process
// and returns a client URL of each node.
func startCluster(t *testing.T) []string {
	routes := freePorts(t, 3)
	var routeURLs []string
	for _, p := range routes {
		routeURLs = append(routeURLs, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	var urls []string
	for i, p := range routes {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1), Host: "127.0.0.1", Port: server.RANDOM_PORT,
			JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
			Cluster: server.ClusterOpts{Name: "ferry-test", Host: "127.0.0.1", Port: p},
			Routes:  server.RoutesFromStr(strings.Join(routeURLs, ",")),
		}
		ns, err := server.NewServer(opts)
		require.NoError(t, err)
		ns.SetLoggerV2(nil, false, false, false)
		ns.Start()
		t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
		require.True(t, ns.ReadyForConnections(10*time.Second))
		urls = append(urls, ns.ClientURL())
	}
	return urls
}

// TestStreamReplicas declares Ferry's streams on a three-node cluster with
// three replicas: every stream and the files object store keep three
// copies, and a service declaring the streams again at its start keeps
// them. A single server refuses more than one replica, naming the stream.
func TestStreamReplicas(t *testing.T) {
	urls := startCluster(t)
	nc, err := nats.Connect(strings.Join(urls, ","))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	ctx := context.Background()
	// The cluster elects its JetStream meta leader after the servers start.
	require.Eventually(t, func() bool {
		return bus.DeclareStreams(ctx, js, bus.StreamOptions{Replicas: 3}) == nil
	}, 30*time.Second, 200*time.Millisecond)
	replicas := func() map[string]int {
		out := map[string]int{}
		for _, name := range []string{bus.StreamCommands, bus.StreamChunks, bus.StreamRecords, bus.StreamExport, bus.StreamProgress, bus.StreamRuns, bus.StreamEvents, bus.StreamDeadLetter, bus.StreamChanges} {
			s, err := js.Stream(ctx, name)
			require.NoError(t, err)
			out[name] = s.CachedInfo().Config.Replicas
		}
		obs, err := js.ObjectStore(ctx, bus.FilesBucket)
		require.NoError(t, err)
		st, err := obs.Status(ctx)
		require.NoError(t, err)
		out[bus.FilesBucket] = st.Replicas()
		return out
	}
	for name, n := range replicas() {
		require.Equal(t, 3, n, name)
	}
	require.NoError(t, bus.EnsureStreams(ctx, js), "a service declaring the streams at its start")
	for name, n := range replicas() {
		require.Equal(t, 3, n, "%s after a service declared it again", name)
	}

	ns := testkit.NATS(t)
	single, err := bus.Connect("", ns, "test", testkit.Log(t))
	require.NoError(t, err)
	t.Cleanup(single.Close)
	sjs, err := jetstream.New(single)
	require.NoError(t, err)
	err = bus.DeclareStreams(ctx, sjs, bus.StreamOptions{Replicas: 3})
	require.ErrorContains(t, err, "declare stream "+bus.StreamCommands+" with 3 replicas")
	require.NoError(t, bus.DeclareStreams(ctx, sjs, bus.StreamOptions{}))
}
