package benchmarks

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
)

// startNATS runs n embedded JetStream servers in the benchmark process,
// routed to each other on loopback when n > 1, each with its own storage
// folder, and returns their client URLs once JetStream has a meta leader.
// The benchmark's cleanup shuts them down.
func startNATS(b *testing.B, n int) []string {
	b.Helper()
	routes := make([]string, n)
	ports := make([]int, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatalf("reserving a loopback port: %v", err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}
	nodes := make([]*natsserver.Server, 0, n)
	b.Cleanup(func() {
		for _, s := range nodes {
			s.Shutdown()
			s.WaitForShutdown()
		}
	})
	dir := b.TempDir()
	urls := make([]string, n)
	for i := range n {
		opts := &natsserver.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, JetStream: true,
			StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i)), NoLog: true, NoSigs: true,
		}
		if n > 1 {
			opts.Cluster = natsserver.ClusterOpts{Name: "am-fanout-bench", Host: "127.0.0.1", Port: ports[i]}
			opts.Routes = natsserver.RoutesFromStr(strings.Join(routes, ","))
		}
		s, err := natsserver.NewServer(opts)
		if err != nil {
			b.Fatalf("NATS node %d: %v", i, err)
		}
		s.Start()
		nodes = append(nodes, s)
		if !s.ReadyForConnections(10 * time.Second) {
			b.Fatalf("NATS node %d is not ready after 10s", i)
		}
		urls[i] = s.ClientURL()
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		current, leader := true, false
		for _, s := range nodes {
			current = current && s.JetStreamIsCurrent()
			leader = leader || s.JetStreamIsLeader()
		}
		if current && leader {
			return urls
		}
		if time.Now().After(deadline) {
			b.Fatal("the NATS servers elected no JetStream meta leader within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// natsStorage is the storage section of a replica on the servers at
// urls, with replicas copies of every stream and bucket and the extra
// storage.nats keys in extra ("key: value, ..."; may be empty).
func natsStorage(urls []string, replicas int, extra string) string {
	if extra != "" {
		extra = ", " + extra
	}
	return fmt.Sprintf("storage: {backend: nats, nats: {servers: [%s], replicas: %d%s}}\n",
		strings.Join(urls, ", "), replicas, extra)
}
