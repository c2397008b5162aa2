package fanout

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// BenchmarkAck measures how long a webhook waits for its answer, through
// the one pipeline, with the durable store (bbolt, fsync on: the answer
// comes once the deliveries are on disk) and the volatile one
// (outbox.enabled: false: once they are in memory), in one run. Ten
// local HTTP targets receive every alert. "rate500" sends 500 webhooks/s
// on a fixed schedule and measures latency from the scheduled send time,
// so a stall counts in full; "max" sends from 16 concurrent senders as
// fast as answers come. Run with -benchtime=3000x or more for stable
// percentiles.
func BenchmarkAck(b *testing.B) {
	for _, mode := range []string{"rate500", "max"} {
		for _, perWebhook := range []int{1, 10} {
			for _, store := range []string{"bbolt", "memory"} {
				name := fmt.Sprintf("%s/alerts=%d/store=%s", mode, perWebhook, store)
				b.Run(name, func(b *testing.B) { benchAck(b, mode, perWebhook, store == "memory") })
			}
		}
	}
}

func benchAck(b *testing.B, mode string, perWebhook int, volatile bool) {
	servers := map[string]*server{}
	var delivered atomic.Int64
	for i := range 10 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			delivered.Add(1)
		}))
		b.Cleanup(srv.Close)
		servers[fmt.Sprintf("t%d", i)] = &server{srv: srv}
	}
	opts := fastRetries()
	opts.MaxPending, opts.MaxBytes = 1<<30, 1<<40
	h := newHarness(b, servers, opts, 1000)
	if volatile {
		h.close()
		h.storeOpts.Volatile = true
		h.open()
	}
	var seq atomic.Int64
	send := func() {
		alerts := make([]*core.EnrichedAlert, perWebhook)
		for i := range alerts {
			alerts[i] = alert(fmt.Sprint(seq.Add(1)), core.StatusFiring, 0)
		}
		if _, err := h.box.Accept(context.Background(), alerts, false); err != nil {
			b.Errorf("Accept: %v", err)
		}
	}
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	start := time.Now()
	if mode == "rate500" {
		runAtRate(b.N, 500, send, lat)
	} else {
		runConcurrently(b.N, 16, send, lat)
	}
	took := time.Since(start)
	b.StopTimer()
	drainStart := time.Now()
	// The backlog drains before the next case so that it measures alone.
	for deadline := time.Now().Add(5 * time.Minute); h.box.Pending() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	slices.Sort(lat)
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ack-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ack-ms")
	b.ReportMetric(float64(b.N)/took.Seconds(), "webhooks/s")
	// Accepted deliveries per second while sending, and made deliveries
	// per second until the backlog drained.
	b.ReportMetric(float64(b.N*perWebhook*10)/took.Seconds(), "accepted/s")
	b.ReportMetric(float64(b.N*perWebhook*10)/(took+time.Since(drainStart)).Seconds(), "delivered/s")
	b.ReportMetric(0, "ns/op")
}

// runAtRate starts n sends on a fixed schedule of rate per second; each
// latency counts from its scheduled time.
func runAtRate(n, rate int, send func(), lat []time.Duration) {
	interval := time.Second / time.Duration(rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Go(func() {
			send()
			lat[i] = time.Since(due)
		})
	}
	wg.Wait()
}

// runConcurrently makes n sends from workers senders at once.
func runConcurrently(n, workers int, send func(), lat []time.Duration) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				t0 := time.Now()
				send()
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
