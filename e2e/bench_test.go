package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchTargets is how many webhook targets every alert fans out to.
const benchTargets = 10

// BenchmarkWebhookToTenTargets measures am-fanout as a process over real
// HTTP on loopback: one operation is one notification of one new alert
// POSTed to /webhook and acknowledged after its delivery to ten local
// webhook targets. Several notifications are in flight at once, as when
// Alertmanager flushes many groups. It reports alerts/s, deliveries/s,
// the p50 and p99 acknowledgement latency and the process's peak RSS.
func BenchmarkWebhookToTenTargets(b *testing.B) {
	var delivered atomic.Int64
	var cfg strings.Builder
	cfg.WriteString("targets:\n")
	for i := range benchTargets {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			delivered.Add(1)
		}))
		b.Cleanup(srv.Close)
		fmt.Fprintf(&cfg, "  - {name: target-%d, type: webhook, url: %q, format: enriched}\n", i, srv.URL)
	}
	f := startFanout(b, cfg.String(), "--log.level=warn")
	bc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	b.Cleanup(bc.CloseIdleConnections)

	var (
		seq       atomic.Int64
		mu        sync.Mutex
		latencies []time.Duration
	)
	b.SetParallelism(4)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			// A label of its own gives every alert its own fingerprint, so
			// no delivery is skipped as already delivered.
			body := v4Payload(b, "firing", map[string]string{
				"alertname": "E2EBench", "severity": "warning", "seq": strconv.FormatInt(seq.Add(1), 10),
			})
			t0 := time.Now()
			resp, err := bc.Post(f.url+"/webhook", "application/json", bytes.NewReader(body))
			if err != nil {
				b.Errorf("POST /webhook: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("POST /webhook answered %s", resp.Status)
				return
			}
			mine = append(mine, time.Since(t0))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()

	n := len(latencies)
	if got, want := delivered.Load(), int64(n*benchTargets); got != want {
		b.Fatalf("the targets received %d deliveries for %d acknowledged alerts, want %d", got, n, want)
	}
	if n == 0 {
		return
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(n*benchTargets)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(ms(latencies[n/2]), "p50-ms")
	b.ReportMetric(ms(latencies[(n*99)/100]), "p99-ms")
	if rss, err := peakRSS(f.proc.cmd.Process.Pid); err == nil {
		b.ReportMetric(rss, "peak-RSS-MiB")
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// peakRSS reads a process's peak resident set size, in MiB, from Linux's
// /proc.
func peakRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", v, err)
			}
			return kb / 1024, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
