package benchmarks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
)

const (
	// targets is how many webhook targets every alert fans out to.
	targets = 10
	// clients is how many notifications are in flight at once, as when
	// Alertmanager flushes many alert groups together.
	clients = 8
)

// BenchmarkEndToEnd measures am-fanout as it runs: the binary built from
// this tree receives notifications on POST /webhook over loopback HTTP and
// delivers each alert to ten local webhook targets that answer 200 at once.
// One operation is one notification holding 1 or 10 new alerts (every
// alert has its own fingerprint, so nothing is deduplicated), sent by one
// of a fixed number of client goroutines and acknowledged after every
// delivery. Run it with a fixed count, e.g. -benchtime=2000x.
//
// It reports alerts/s and deliveries/s (as counted by the targets), the p50
// and p99 acknowledgement latency, and the process's resident memory when
// idle, after the load, and at its peak.
func BenchmarkEndToEnd(b *testing.B) {
	for _, perWebhook := range []int{1, 10} {
		b.Run(fmt.Sprintf("alerts-per-webhook=%d", perWebhook), func(b *testing.B) {
			benchEndToEnd(b, perWebhook)
		})
	}
}

func benchEndToEnd(b *testing.B, perWebhook int) {
	var delivered atomic.Int64
	srv := startServer(b, config(b, &delivered), "--log.level=warn")
	idleRSS, _, err := srv.memory()
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: clients},
		Timeout:   30 * time.Second,
	}
	defer client.CloseIdleConnections()

	var (
		jobs      = make(chan int)
		mu        sync.Mutex
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for seq := range jobs {
				body, err := payload(seq, perWebhook)
				if err != nil {
					b.Error(err)
					continue
				}
				d, err := post(client, srv.url, body)
				if err != nil {
					b.Error(err)
					continue
				}
				mine = append(mine, d)
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	start := time.Now()
	seq := 0
	for b.Loop() {
		jobs <- seq
		seq++
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)
	rss, peak, err := srv.memory()
	if err != nil {
		b.Fatal(err)
	}
	if b.Failed() {
		return
	}
	alerts := int64(len(latencies) * perWebhook)
	if got := delivered.Load(); got != alerts*targets {
		b.Fatalf("the targets received %d deliveries for %d acknowledged alerts, want %d", got, alerts, alerts*targets)
	}
	b.ReportMetric(float64(alerts)/elapsed.Seconds(), "alerts/s")
	b.ReportMetric(float64(delivered.Load())/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(ms(percentile(latencies, 50)), "ack-p50-ms")
	b.ReportMetric(ms(percentile(latencies, 99)), "ack-p99-ms")
	b.ReportMetric(idleRSS, "idle-RSS-MiB")
	b.ReportMetric(rss, "RSS-MiB")
	b.ReportMetric(peak, "peak-RSS-MiB")
}

// config starts the webhook targets, each counting what it receives in
// delivered, and returns an am-fanout configuration that delivers every
// alert to all of them.
func config(b *testing.B, delivered *atomic.Int64) string {
	var cfg strings.Builder
	cfg.WriteString("fanout: {max_concurrent: 10}\ntargets:\n")
	for i := range targets {
		t := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			delivered.Add(1)
		}))
		b.Cleanup(t.Close)
		fmt.Fprintf(&cfg, "  - {name: target-%d, type: webhook, url: %q, format: alertmanager}\n", i, t.URL)
	}
	return cfg.String()
}

// post sends one notification and returns how long its acknowledgement
// took; any answer but 200 is an error.
func post(c *http.Client, url string, body []byte) (time.Duration, error) {
	start := time.Now()
	resp, err := c.Post(url+"/webhook", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("POST /webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("POST /webhook answered %s", resp.Status)
	}
	return time.Since(start), nil
}

// message is Alertmanager's v4 webhook payload.
type message struct {
	*template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// payload is notification seq holding n firing alerts, each with a label
// and a fingerprint no other alert of the run has.
func payload(seq, n int) ([]byte, error) {
	group := template.KV{"alertname": "LoadTest"}
	data := &template.Data{
		Receiver: "am-fanout", Status: "firing", GroupLabels: group, CommonLabels: group,
		CommonAnnotations: template.KV{}, ExternalURL: "http://127.0.0.1:9093",
	}
	startsAt := time.Now().Add(-time.Minute).UTC()
	for i := range n {
		id := strconv.Itoa(seq*n + i)
		data.Alerts = append(data.Alerts, template.Alert{
			Status:      "firing",
			Labels:      template.KV{"alertname": "LoadTest", "severity": "warning", "seq": id},
			Annotations: template.KV{"summary": "load test alert " + id},
			StartsAt:    startsAt,
			Fingerprint: fmt.Sprintf("%016x", seq*n+i),
		})
	}
	return json.Marshal(message{Data: data, Version: "4", GroupKey: `{}:{alertname="LoadTest"}`})
}

// percentile returns the p-th percentile of ds by the nearest-rank method;
// it sorts ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	return ds[min(max(rank, 1), len(ds))-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
