package fanout

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// latencyTargets is how many healthy targets every alert of
// BenchmarkDeliveryLatency goes to.
const latencyTargets = 10

// BenchmarkDeliveryLatency measures how long an alert takes from its
// acceptance to its arrival at a healthy target, through the pipeline
// (Accept persists it and queues it in each target's lane, whose attempt
// goes through the Attempter) with the durable store (bbolt, fsync on)
// and the volatile one (outbox.enabled: false), against the bare fan-out
// control: one goroutine per target calling the publisher directly, no
// outbox, no breaker, nothing persisted. One operation is one alert to
// ten local HTTP targets that answer 200 at once; the next alert is sent
// once all ten arrived, so every case measures an idle pipeline. Each
// delivery's latency runs from just before Accept (or before the
// goroutines start) to the target's receipt of the whole body. The
// control runs first, so the pipelines' p50 and p99 are also reported as
// ratios to its. Run with -benchtime=2000x or more for a steady p99.
func BenchmarkDeliveryLatency(b *testing.B) {
	var control [2]float64
	b.Run("control/goroutines", func(b *testing.B) {
		p50, p99 := benchDeliveryLatency(b, "")
		control = [2]float64{p50, p99}
	})
	for _, store := range []string{"bbolt", "memory"} {
		b.Run("pipeline/"+store, func(b *testing.B) {
			p50, p99 := benchDeliveryLatency(b, store)
			if control[0] > 0 {
				b.ReportMetric(p50/control[0], "p50/control")
				b.ReportMetric(p99/control[1], "p99/control")
			}
		})
	}
}

// arrivals records when each delivery of the alert being sent arrives.
type arrivals struct {
	mu    sync.Mutex
	start time.Time
	got   []time.Duration
	all   chan struct{} // closed when every target got the alert
}

func (a *arrivals) expect(start time.Time) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.start, a.all = start, make(chan struct{})
	return a.all
}

func (a *arrivals) arrived(now time.Time, n *atomic.Int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, now.Sub(a.start))
	if n.Add(1)%latencyTargets == 0 {
		close(a.all)
	}
}

// benchDeliveryLatency runs one case: store "" is the control; it
// reports and returns the p50 and p99 latency in ms.
func benchDeliveryLatency(b *testing.B, store string) (p50, p99 float64) {
	var (
		arr   arrivals
		count atomic.Int64
	)
	servers := map[string]*server{}
	for i := range latencyTargets {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			arr.arrived(time.Now(), &count)
		}))
		b.Cleanup(srv.Close)
		servers[fmt.Sprintf("t%d", i)] = &server{srv: srv}
	}
	h := newHarness(b, servers, fastRetries(), 1000)
	if store == "memory" {
		h.close()
		h.storeOpts.Volatile = true
		h.open()
	}
	targets := h.targets.Targets()
	seq := 0
	for b.Loop() {
		seq++
		a := alert(fmt.Sprint(seq), core.StatusFiring, 0)
		all := arr.expect(time.Now())
		if store == "" {
			var wg sync.WaitGroup
			for _, t := range targets {
				wg.Go(func() {
					if err := t.Publisher.Publish(context.Background(), a); err != nil {
						b.Errorf("publishing to %s: %v", t.Name, err)
					}
				})
			}
			wg.Wait()
		} else if _, err := h.box.Accept(context.Background(), []*core.EnrichedAlert{a}, false); err != nil {
			b.Fatalf("Accept: %v", err)
		}
		<-all
	}
	b.StopTimer()
	lat := arr.got
	if len(lat) != b.N*latencyTargets {
		b.Fatalf("%d deliveries arrived, want %d", len(lat), b.N*latencyTargets)
	}
	slices.Sort(lat)
	p50, p99 = ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100])
	b.ReportMetric(p50, "p50-ms")
	b.ReportMetric(p99, "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	return p50, p99
}
