package benchmarks

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
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

// BenchmarkEndToEnd measures am-fanout as it runs against a bare
// forwarder, in one run. The binary built from this tree receives
// notifications on POST /webhook over loopback HTTP and delivers each
// alert to ten local webhook targets that answer 200 at once, with its
// default configuration (am-fanout=bbolt: the durable store, fsync on)
// and with outbox.enabled: false (am-fanout=memory: the same pipeline,
// pending deliveries in memory), and on NATS JetStream, embedded in the
// benchmark process: one server with streams of one replica
// (am-fanout=nats-r1) and a three-node cluster on loopback with three
// (am-fanout=nats-r3). The control (forwarder) is a bare
// net/http server in a process of its own, as am-fanout is (the test
// binary started again; forwarder=in-process runs the same code in the
// benchmark's process, for comparison with earlier runs): it decodes the
// notification, posts each alert to the ten targets in parallel, and
// answers once they all answered; nothing is persisted, retried or
// ordered. forwarder=durable is the same forwarder with the least a
// durable one must write, group-committed to bbolt with fsync (see
// durable): the floor under any durable fan-out on this machine;
// forwarder=durable-per-target adds a record per delivery, settled as
// its target answers, the least a fan-out that retries each target on
// its own writes. One operation is one notification holding 1 or 10 new alerts (every alert has its own
// fingerprint, so nothing is deduplicated), sent by one of a fixed number
// of client goroutines. Run it with a fixed count, e.g. -benchtime=2000x.
//
// am-fanout answers once the deliveries are persisted; at the outbox's
// bounds a notification waits for room (outbox.wait_for_room), and a 503
// after that wait is the outbox's back-pressure, counted as
// refused-webhooks rather than an error. The forwarder answers after its
// deliveries.
//
// It reports alerts/s (accepted alerts over the time the clients took),
// deliveries/s (as counted by the targets, up to the last one), the p50
// and p99 ack latency, the CPU time per delivery of the server process
// and of the benchmark's own, for a server process its resident memory
// when idle, after the load and at its peak, and the peak of its
// anonymous memory (sampled; without the store file's mapped pages), for
// am-fanout its store file's size after the load (store-MiB), for
// am-fanout and forwarder=durable their
// deliveries/s as a ratio to the forwarder's of the same run (the
// forwarder runs first), and with bbolt its committer's figures
// (writes/commit, commit-ms, committer-busy) and its checkpoints
// (checkpoints/s, checkpoint-ms).
//
// AM_FANOUT_BENCH_GOGC=N runs am-fanout with runtime.gogc: N, and
// AM_FANOUT_BENCH_HEAP_FLOOR=B with runtime.heap_floor: B, to weigh the
// collector's settings against their defaults.
func BenchmarkEndToEnd(b *testing.B) {
	for _, perWebhook := range []int{1, 10} {
		var forwarded float64
		b.Run(fmt.Sprintf("alerts-per-webhook=%d/forwarder", perWebhook), func(b *testing.B) {
			forwarded = benchEndToEnd(b, "", perWebhook)
		})
		b.Run(fmt.Sprintf("alerts-per-webhook=%d/forwarder=in-process", perWebhook), func(b *testing.B) {
			benchEndToEnd(b, "in-process", perWebhook)
		})
		for _, name := range []string{"forwarder=durable", "forwarder=durable-per-target", "am-fanout=bbolt", "am-fanout=memory", "am-fanout=nats-r1", "am-fanout=nats-r3"} {
			store := strings.TrimPrefix(strings.TrimPrefix(name, "am-fanout="), "forwarder=")
			b.Run(fmt.Sprintf("alerts-per-webhook=%d/%s", perWebhook, name), func(b *testing.B) {
				if rate := benchEndToEnd(b, store, perWebhook); forwarded > 0 && rate > 0 {
					b.ReportMetric(rate/forwarded, "ratio-to-forwarder")
				}
			})
		}
	}
}

// benchEndToEnd runs one case: store "" is the forwarder in a process of
// its own, "in-process" the forwarder in the benchmark's process. It
// returns the deliveries/s, 0 when the case failed.
func benchEndToEnd(b *testing.B, store string, perWebhook int) float64 {
	var delivered atomic.Int64
	urls := startTargets(b, &delivered)
	var (
		url string
		srv *server
	)
	switch store {
	case "":
		srv = startForwarder(b, urls, "")
		url = srv.url
	case "durable":
		srv = startForwarder(b, urls, filepath.Join(b.TempDir(), "forwarder.db"))
		url = srv.url
	case "durable-per-target":
		srv = startForwarder(b, urls, perTargetPrefix+filepath.Join(b.TempDir(), "forwarder.db"))
		url = srv.url
	case "in-process":
		fw := httptest.NewServer(newForwarder(urls))
		b.Cleanup(fw.Close)
		url = fw.URL
	default:
		srv = startServer(b, config(urls, storage(b, store)), "--log.level=warn")
		url = srv.url
	}
	fanout := srv != nil && store != "" && !strings.HasPrefix(store, "durable")
	var idleRSS, cpuBefore float64
	if srv != nil {
		var err error
		if idleRSS, _, err = srv.memory(); err != nil {
			b.Fatal(err)
		}
		if cpuBefore, err = srv.cpu(); err != nil {
			b.Fatal(err)
		}
	}
	var countersBefore map[string]float64
	if fanout {
		countersBefore = srv.counters(b)
	}
	client := newClient()
	defer client.CloseIdleConnections()
	var peakAnon func() float64
	if srv != nil {
		peakAnon = srv.samplePeakAnonymous(b)
	}
	profiled := func() {}
	if srv != nil {
		profiled = srv.profile(b, fanout)
	}
	selfBefore := selfCPU()
	l := drive(b, client, url, &delivered, perWebhook, fanout, 0, b.Loop)
	profiled()
	if b.Failed() {
		return 0
	}
	rate := float64(delivered.Load()) / l.last.Sub(l.start).Seconds()
	// The benchmark's own process: clients, targets (and the forwarder
	// when it runs in the process), for the share of the two CPUs left.
	b.ReportMetric((selfCPU()-selfBefore)*1e6/float64(delivered.Load()), "bench-cpu-us/delivery")
	b.ReportMetric(float64(l.alerts)/l.acked.Seconds(), "alerts/s")
	b.ReportMetric(rate, "deliveries/s")
	b.ReportMetric(ms(percentile(l.latencies, 50)), "ack-p50-ms")
	b.ReportMetric(ms(percentile(l.latencies, 99)), "ack-p99-ms")
	b.ReportMetric(float64(l.refused), "refused-webhooks")
	if srv != nil {
		rss, peak, err := srv.memory()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(idleRSS, "idle-RSS-MiB")
		b.ReportMetric(rss, "RSS-MiB")
		b.ReportMetric(peak, "peak-RSS-MiB")
		b.ReportMetric(peakAnon(), "peak-anon-RSS-MiB")
		cpu, err := srv.cpu()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric((cpu-cpuBefore)*1e6/float64(delivered.Load()), "cpu-us/delivery")
	}
	if countersBefore != nil {
		after := srv.counters(b)
		// Allocations per delivery: what the collector has to clean up,
		// the one figure here the machine's noise leaves alone.
		n := float64(delivered.Load())
		b.ReportMetric((after["go_memstats_mallocs_total"]-countersBefore["go_memstats_mallocs_total"])/n, "allocs/delivery")
		b.ReportMetric((after["go_memstats_alloc_bytes_total"]-countersBefore["go_memstats_alloc_bytes_total"])/n/1024, "alloc-KiB/delivery")
		// The store's file, which bbolt never shrinks: its largest size.
		if size, ok := after["am_fanout_outbox_bytes"]; ok {
			b.ReportMetric(size/(1<<20), "store-MiB")
		}
		// The bbolt store's committer: how busy it was, how many writes
		// each commit held.
		commits := after["am_fanout_outbox_commits_total"] - countersBefore["am_fanout_outbox_commits_total"]
		if commits > 0 {
			b.ReportMetric((after["am_fanout_outbox_commit_writes_total"]-countersBefore["am_fanout_outbox_commit_writes_total"])/commits, "writes/commit")
			took := after["am_fanout_outbox_commit_seconds_total"] - countersBefore["am_fanout_outbox_commit_seconds_total"]
			b.ReportMetric(took/commits*1000, "commit-ms")
			b.ReportMetric(took/l.last.Sub(l.start).Seconds(), "committer-busy")
		}
		// The durable store's checkpoints (its write-ahead log written to
		// the file): how often, and how long each held the committer.
		if checkpoints := after["am_fanout_outbox_checkpoints_total"] - countersBefore["am_fanout_outbox_checkpoints_total"]; checkpoints > 0 {
			b.ReportMetric(checkpoints/l.last.Sub(l.start).Seconds(), "checkpoints/s")
			b.ReportMetric((after["am_fanout_outbox_checkpoint_seconds_total"]-countersBefore["am_fanout_outbox_checkpoint_seconds_total"])/checkpoints*1000, "checkpoint-ms")
		}
	}
	return rate
}

// newClient is the clients' HTTP client: one idle connection kept per
// client goroutine.
func newClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: clients},
		Timeout:   30 * time.Second,
	}
}

// load is what one load of notifications measured.
type load struct {
	// start is when the first notification was posted, last when the
	// targets' count last changed.
	start, last time.Time
	// acked is how long the clients took until every notification was
	// answered; alerts is how many alerts were accepted.
	acked  time.Duration
	alerts int64
	// latencies are the accepted notifications' ack latencies; refused
	// counts the 503s of the outbox's back-pressure.
	latencies []time.Duration
	refused   int64
}

// drive posts notifications numbered from first on to url from the
// client goroutines, one each time more says so, waits until the targets
// have received every accepted alert's deliveries (delivered counts
// them, from zero), and fails b if they do not within a minute.
func drive(b *testing.B, client *http.Client, url string, delivered *atomic.Int64, perWebhook int, fanout bool, first int, more func() bool) load {
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
				d, err := post(client, url, seq, perWebhook, fanout)
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
	for seq := first; more(); seq++ {
		jobs <- seq
	}
	close(jobs)
	wg.Wait()
	l := load{start: start, acked: time.Since(start), latencies: latencies, refused: refused.Load()}
	l.alerts = int64(len(latencies) * perWebhook)
	l.last = waitDelivered(delivered, l.alerts*targets, time.Minute)
	if got := delivered.Load(); got != l.alerts*targets && !b.Failed() {
		b.Fatalf("the targets received %d deliveries for %d accepted alerts, want %d", got, l.alerts, l.alerts*targets)
	}
	return l
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

// startTargets starts the webhook targets, each counting what it
// receives in delivered, and returns their URLs.
func startTargets(b *testing.B, delivered *atomic.Int64) []string {
	urls := make([]string, targets)
	for i := range urls {
		t := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			delivered.Add(1)
		}))
		b.Cleanup(t.Close)
		urls[i] = t.URL
	}
	return urls
}

// storage is the configuration's outbox and storage sections for store:
// bbolt (the default), memory (outbox.enabled: false), or nats-r1 and
// nats-r3, JetStream on one embedded server or a three-node embedded
// cluster, started here, with as many replicas of every stream.
func storage(b *testing.B, store string) string {
	switch store {
	case "memory":
		return "outbox: {enabled: false}\n"
	case "nats-r1":
		return natsStorage(startNATS(b, 1), 1, "")
	case "nats-r3":
		return natsStorage(startNATS(b, 3), 3, "")
	}
	return "outbox: {enabled: true}\n"
}

// config is an am-fanout configuration that delivers every alert to all
// the targets, with the outbox's defaults and the storage given.
func config(urls []string, storage string) string {
	var cfg strings.Builder
	cfg.WriteString(storage)
	var runtime []string
	if gogc := os.Getenv(gogcEnv); gogc != "" {
		runtime = append(runtime, "gogc: "+gogc)
	}
	if floor := os.Getenv(heapFloorEnv); floor != "" {
		runtime = append(runtime, "heap_floor: "+floor)
	}
	if len(runtime) > 0 {
		fmt.Fprintf(&cfg, "runtime: {%s}\n", strings.Join(runtime, ", "))
	}
	cfg.WriteString("targets:\n")
	for i, u := range urls {
		fmt.Fprintf(&cfg, "  - {name: target-%d, type: webhook, url: %q, format: alertmanager}\n", i, u)
	}
	return cfg.String()
}

// gogcEnv and heapFloorEnv, when set, are am-fanout's runtime.gogc and
// runtime.heap_floor (bytes) in the benchmark.
const (
	gogcEnv      = "AM_FANOUT_BENCH_GOGC"
	heapFloorEnv = "AM_FANOUT_BENCH_HEAP_FLOOR"
)

// profileEnv, when set to a directory, has each case with a server
// process write there that process's CPU profile of the load's first
// seconds (profileSecondsEnv, 5 unless set) and, for am-fanout, its live
// heap halfway through them (after a collection) and its allocation
// profile after the load, named after the case.
const (
	profileEnv        = "AM_FANOUT_BENCH_PROFILE"
	profileSecondsEnv = "AM_FANOUT_BENCH_PROFILE_SECONDS"
)

// profile starts the CPU profile profileEnv asks for and returns a
// function that waits for it and, when fanout, takes the allocation
// profile.
func (s *server) profile(b *testing.B, fanout bool) func() {
	dir := os.Getenv(profileEnv)
	if dir == "" {
		return func() {}
	}
	seconds := cmp.Or(os.Getenv(profileSecondsEnv), "5")
	name := strings.NewReplacer("/", "_", "=", "-").Replace(b.Name())
	get := func(path, file string) {
		resp, err := http.Get(s.url + path)
		if err != nil {
			b.Error(err)
			return
		}
		defer resp.Body.Close()
		f, err := os.Create(filepath.Join(dir, name+file))
		if err != nil {
			b.Error(err)
			return
		}
		defer f.Close()
		if _, err := io.Copy(f, resp.Body); err != nil {
			b.Error(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { get("/debug/pprof/profile?seconds="+seconds, ".cpu.prof") })
	if n, err := strconv.Atoi(seconds); err == nil && fanout {
		wg.Go(func() {
			time.Sleep(time.Duration(n) * time.Second / 2)
			get("/debug/pprof/heap?gc=1", ".heap.prof")
		})
	}
	return func() {
		wg.Wait()
		if fanout {
			get("/debug/pprof/allocs", ".allocs.prof")
		}
	}
}

// errRefused is a 503 from the outbox: it is full, and Alertmanager would
// send the notification again later.
var errRefused = errors.New("refused with 503")

// post sends notification seq and returns how long its acknowledgement
// took. Any answer but 200 is an error, and so is, from am-fanout, an
// answer in which some delivery of an alert was not accepted: a 200
// alone only says that no alert needs a resend, and a partial success
// would inflate the throughput.
func post(c *http.Client, url string, seq, perWebhook int, fanout bool) (time.Duration, error) {
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
	got, err := io.ReadAll(resp.Body)
	d := time.Since(start)
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable && fanout:
		return 0, errRefused
	case resp.StatusCode != http.StatusOK:
		return 0, fmt.Errorf("POST /webhook answered %s", resp.Status)
	case err != nil:
		return 0, fmt.Errorf("reading the answer of POST /webhook: %w", err)
	case !fanout:
		return d, nil
	}
	return d, check(got, perWebhook)
}

// accepted is how the compact answer says a delivery was accepted, once
// per delivery.
var accepted = []byte(`"state":"accepted"`)

// check says which delivery of the answer was not accepted, if any. An
// answer that says accepted exactly once per delivery expected passes
// without being decoded: decoding every answer cost the benchmark's
// process 4 us per delivery beside am-fanout, which the forwarder's
// short answer does not, and shared the CPUs they are measured on.
func check(body []byte, perWebhook int) error {
	if bytes.Count(body, accepted) == perWebhook*targets {
		return nil
	}
	var ans answer
	if err := json.Unmarshal(body, &ans); err != nil {
		return fmt.Errorf("decoding the answer of POST /webhook: %w", err)
	}
	return ans.check(perWebhook)
}

// check says which delivery of the decoded answer was not accepted, if
// any.
func (ans *answer) check(perWebhook int) error {
	if len(ans.Alerts) != perWebhook {
		return fmt.Errorf("the answer holds %d alerts, want %d", len(ans.Alerts), perWebhook)
	}
	for _, a := range ans.Alerts {
		if n := len(a.Deliveries); n != targets {
			return fmt.Errorf("alert %s: %d deliveries in the answer, want %d", a.Fingerprint, n, targets)
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
		Deliveries  []struct {
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
