package outbox

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// runJetStream starts an embedded JetStream server on a random loopback
// port, its storage in the test's directory, shut down at the test's end.
func runJetStream(t *testing.T) *server.Server {
	t.Helper()
	s := startServer(t, &server.Options{StoreDir: t.TempDir()})
	t.Cleanup(func() { stopServer(s) })
	return s
}

func startServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.JetStream, opts.NoLog, opts.NoSigs = "127.0.0.1", true, true, true
	if opts.Port == 0 {
		opts.Port = -1
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("starting a NATS server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("the NATS server is not ready after 10s")
	}
	return s
}

func stopServer(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// cluster is three embedded JetStream servers routed to each other on
// loopback, each with its own storage directory.
type cluster struct {
	nodes []*server.Server
	dirs  []string
}

func runCluster(t *testing.T) *cluster {
	t.Helper()
	const n = 3
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}
	c := &cluster{}
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("n%d", i))
		s := startServer(t, &server.Options{
			ServerName: fmt.Sprintf("n%d", i), StoreDir: dir,
			Cluster: server.ClusterOpts{Name: "am-fanout-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:  server.RoutesFromStr(strings.Join(routes, ",")),
		})
		c.nodes, c.dirs = append(c.nodes, s), append(c.dirs, dir)
	}
	t.Cleanup(func() {
		for _, s := range c.nodes {
			stopServer(s)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for !c.ready() {
		if time.Now().After(deadline) {
			t.Fatal("the cluster has no JetStream meta leader after 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

// ready reports whether the cluster has a meta leader that every node
// follows.
func (c *cluster) ready() bool {
	leader := false
	for _, s := range c.nodes {
		if !s.Running() {
			continue
		}
		if !s.JetStreamIsCurrent() {
			return false
		}
		leader = leader || s.JetStreamIsLeader()
	}
	return leader
}

// urls are the client URLs of the running nodes, the i-th first.
func (c *cluster) urls(first int) []string {
	var out []string
	for j := range c.nodes {
		s := c.nodes[(first+j)%len(c.nodes)]
		if s.Running() {
			out = append(out, s.ClientURL())
		}
	}
	return out
}

// openJetStream opens a store on servers, closed at the test's end.
func openJetStream(t *testing.T, servers []string, replicas int, opts StoreOptions) *JetStreamStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := OpenJetStream(ctx, JetStreamOptions{Servers: servers, Replicas: replicas, RequestTimeout: 10 * time.Second, LeaseTTL: 2 * time.Second, Store: opts}, nil)
	if err != nil {
		t.Fatalf("opening the JetStream store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
