package benchmarks

import (
	"fmt"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/outbox/jetstreamtest"
)

// startNATS runs n embedded JetStream servers in the benchmark process
// (a cluster on loopback when n > 1) and returns their client URLs.
func startNATS(b *testing.B, n int) []string {
	b.Helper()
	return jetstreamtest.Start(b, n).URLs(0)
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
