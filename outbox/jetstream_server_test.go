package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/outbox/jetstreamtest"
	"github.com/nats-io/nats-server/v2/server"
)

// runJetStream starts an embedded JetStream server on a random loopback
// port, its storage in the test's directory, shut down at the test's end.
func runJetStream(t *testing.T) *server.Server {
	t.Helper()
	return jetstreamtest.Start(t, 1).Nodes[0]
}

// runCluster starts three embedded JetStream servers routed to each other
// on loopback.
func runCluster(t *testing.T) *jetstreamtest.Cluster {
	t.Helper()
	return jetstreamtest.Start(t, 3)
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
