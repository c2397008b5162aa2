// Package jetstreamtest runs embedded NATS JetStream servers on loopback
// for the tests and benchmarks of the JetStream store: one server, or a
// cluster routed to each other, each with its own storage folder.
package jetstreamtest

import (
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Cluster is n embedded JetStream servers; Nodes[i] stores in Dirs[i].
type Cluster struct {
	Nodes []*server.Server
	Dirs  []string
}

// Start runs n servers (routed to each other when n > 1) and returns once
// JetStream has a meta leader that every node follows. The test's cleanup
// shuts them down. The cluster ports are picked free and released before
// the servers bind them, so another test can take one meanwhile: when a
// node is then not ready (or fails to start), the nodes started are
// stopped and the whole cluster starts again on other ports, up to three
// times.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	dir := t.TempDir()
	for attempt := 1; ; attempt++ {
		c, err := start(n, filepath.Join(dir, fmt.Sprintf("attempt-%d", attempt)))
		if err == nil {
			t.Cleanup(c.Stop)
			for deadline := time.Now().Add(30 * time.Second); !c.Ready(); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the NATS servers elected no JetStream meta leader within 30s")
				}
			}
			return c
		}
		c.Stop()
		if attempt == 3 {
			t.Fatalf("%v (three attempts)", err)
		}
		t.Logf("%v; starting the cluster again on other ports", err)
	}
}

// start starts n servers storing under dir, on cluster ports picked free,
// and returns the nodes it started, with an error naming what failed
// first, for the caller to stop them.
func start(n int, dir string) (*Cluster, error) {
	c := &Cluster{}
	ports := make([]int, n)
	routes := make([]string, n)
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return c, fmt.Errorf("reserving a loopback port: %w", err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", ports[i])
	}
	for i := range n {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, JetStream: true,
			StoreDir: filepath.Join(dir, fmt.Sprintf("n%d", i)), NoLog: true, NoSigs: true,
		}
		if n > 1 {
			opts.Cluster = server.ClusterOpts{Name: "am-fanout-test", Host: "127.0.0.1", Port: ports[i]}
			opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}
		s, err := server.NewServer(opts)
		if err != nil {
			return c, fmt.Errorf("starting NATS node %d: %w", i, err)
		}
		s.Start()
		c.Nodes, c.Dirs = append(c.Nodes, s), append(c.Dirs, opts.StoreDir)
		if !s.ReadyForConnections(10 * time.Second) {
			return c, fmt.Errorf("NATS node %d is not ready after 10s", i)
		}
	}
	return c, nil
}

// Ready reports whether the running nodes have a meta leader that every
// one of them follows.
func (c *Cluster) Ready() bool {
	leader := false
	for _, s := range c.Nodes {
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

// URLs are the client URLs of the running nodes, the first-th first.
func (c *Cluster) URLs(first int) []string {
	var out []string
	for j := range c.Nodes {
		if s := c.Nodes[(first+j)%len(c.Nodes)]; s.Running() {
			out = append(out, s.ClientURL())
		}
	}
	return out
}

// StreamLeader is the node of among leading a stream (of the default
// account), or -1.
func (c *Cluster) StreamLeader(stream string, among []int) int {
	for _, i := range among {
		if c.Nodes[i].JetStreamIsStreamLeader("$G", stream) {
			return i
		}
	}
	return -1
}

// StopNode shuts node i down, as a lost server.
func (c *Cluster) StopNode(i int) {
	c.Nodes[i].Shutdown()
	c.Nodes[i].WaitForShutdown()
}

// Stop shuts every node down.
func (c *Cluster) Stop() {
	for i := range c.Nodes {
		c.StopNode(i)
	}
}
