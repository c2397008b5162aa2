package benchmarks

import (
	"bytes"
	"encoding/json"
	"errors"
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
// of a fixed number of client goroutines. Run it with a fixed count, e.g.
// -benchtime=2000x.
//
// With outbox=off the webhook answers after every delivery, so the ack
// latency is the fan-out's; with outbox=on (the default configuration) it
// answers once the deliveries are on disk, and a 503 is the outbox's
// back-pressure, counted as refused-webhooks rather than an error.
//
// It reports alerts/s (accepted alerts over the time the clients took),
// deliveries/s (as counted by the targets, up to the last one), the p50
// and p99 ack latency, and the process's resident memory when idle, after
// the load, and at its peak.
func BenchmarkEndToEnd(b *testing.B) {
	for _, outbox := range []bool{false, true} {
		for _, perWebhook := range []int{1, 10} {
			name := fmt.Sprintf("outbox=%s/alerts-per-webhook=%d", onOff(outbox), perWebhook)
			b.Run(name, func(b *testing.B) { benchEndToEnd(b, outbox, perWebhook) })
		}
	}
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func benchEndToEnd(b *testing.B, outbox bool, perWebhook int) {
	var delivered atomic.Int64
	srv := startServer(b, config(b, &delivered, outbox), "--log.level=warn")
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
		refused   atomic.Int64
		wg        sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for seq := range jobs {
				d, err := post(client, srv.url, seq, perWebhook, outbox)
				switch {
				case errors.Is(err, errRefused):
					refused.Add(1)
				case err != nil:
					b.Error(err)
				default:
					mine = append(mine, d)
				}
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
	acked := time.Since(start)
	alerts := int64(len(latencies) * perWebhook)
	last := waitDelivered(&delivered, alerts*targets, time.Minute)
	rss, peak, err := srv.memory()
	if err != nil {
		b.Fatal(err)
	}
	if b.Failed() {
		return
	}
	if got := delivered.Load(); got != alerts*targets {
		b.Fatalf("the targets received %d deliveries for %d accepted alerts, want %d", got, alerts, alerts*targets)
	}
	b.ReportMetric(float64(alerts)/acked.Seconds(), "alerts/s")
	b.ReportMetric(float64(delivered.Load())/last.Sub(start).Seconds(), "deliveries/s")
	b.ReportMetric(ms(percentile(latencies, 50)), "ack-p50-ms")
	b.ReportMetric(ms(percentile(latencies, 99)), "ack-p99-ms")
	b.ReportMetric(float64(refused.Load()), "refused-webhooks")
	b.ReportMetric(idleRSS, "idle-RSS-MiB")
	b.ReportMetric(rss, "RSS-MiB")
	b.ReportMetric(peak, "peak-RSS-MiB")
}

// waitDelivered waits until the targets have received want deliveries or
// timeout passes, and returns when the count last changed.
func waitDelivered(delivered *atomic.Int64, want int64, timeout time.Duration) time.Time {
	last, seen := time.Now(), delivered.Load()
	for deadline := last.Add(timeout); seen < want && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		if n := delivered.Load(); n != seen {
			last, seen = time.Now(), n
		}
	}
	return last
}

// config starts the webhook targets, each counting what it receives in
// delivered, and returns an am-fanout configuration that delivers every
// alert to all of them.
func config(b *testing.B, delivered *atomic.Int64, outbox bool) string {
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "fanout: {max_concurrent: 10}\noutbox: {enabled: %t}\ntargets:\n", outbox)
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

// errRefused is a 503 from the outbox: it is full, and Alertmanager would
// send the notification again later.
var errRefused = errors.New("refused with 503")

// post sends notification seq and returns how long its acknowledgement
// took. Any answer but 200 is an error, and so is an alert that was not
// delivered to every target (outbox off) or whose deliveries were not all
// accepted (outbox on): a 200 alone only says that no alert needs a
// resend, and a partial success would inflate the throughput.
func post(c *http.Client, url string, seq, perWebhook int, outbox bool) (time.Duration, error) {
	body, err := payload(seq, perWebhook)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := c.Post(url+"/webhook", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("POST /webhook: %w", err)
	}
	defer resp.Body.Close()
	var ans answer
	err = json.NewDecoder(resp.Body).Decode(&ans)
	d := time.Since(start)
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable && outbox:
		return 0, errRefused
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("POST /webhook answered %s", resp.Status)
	case err != nil:
		return 0, fmt.Errorf("decoding the answer of POST /webhook: %w", err)
	}
	return d, ans.check(perWebhook, outbox)
}

// check says which delivery of the answer did not succeed or was not
// accepted, if any.
func (ans *answer) check(perWebhook int, outbox bool) error {
	if len(ans.Alerts) != perWebhook {
		return fmt.Errorf("the answer holds %d alerts, want %d", len(ans.Alerts), perWebhook)
	}
	for _, a := range ans.Alerts {
		n := len(a.Result.Results)
		if outbox {
			n = len(a.Deliveries)
		}
		if n != targets {
			return fmt.Errorf("alert %s: %d deliveries in the answer, want %d", a.Fingerprint, n, targets)
		}
		for _, r := range a.Result.Results {
			if r.Result != "success" {
				return fmt.Errorf("alert %s to %s: %s %s%s", a.Fingerprint, r.Target, r.Result, r.SkipReason, r.Error)
			}
		}
		for _, dl := range a.Deliveries {
			if dl.State != "accepted" {
				return fmt.Errorf("alert %s to %s: %s", a.Fingerprint, dl.Target, dl.State)
			}
		}
	}
	return nil
}

// answer is the part of the webhook's answer the benchmark checks.
type answer struct {
	Alerts []struct {
		Fingerprint string `json:"fingerprint"`
		Result      struct {
			Results []struct {
				Target     string `json:"target"`
				Result     string `json:"result"`
				SkipReason string `json:"skip_reason"`
				Error      string `json:"error"`
			} `json:"results"`
		} `json:"result"`
		Deliveries []struct {
			Target string `json:"target"`
			State  string `json:"state"`
		} `json:"deliveries"`
	} `json:"alerts"`
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
