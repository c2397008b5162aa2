package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// crashConfig retries fast and reopens breakers soon, so that the stream
// drains within the test; health never skips a target.
const crashConfig = `
defaults:
  breaker: {failures: 5, open_for: 200ms}
fanout:
  health_strategy: publish_to_all
outbox:
  retry_base: 10ms
  retry_cap: 200ms
targets:
`

// crashCopy is one delivery a sink accepted: the alert's status, and the
// am-fanout process that sent it, numbered from 0 by start.
type crashCopy struct {
	status  string
	process int
}

// crashSink is a target that records every state it accepted, per alert,
// and which process sent it: each process is configured with the sink's
// URL under the path /p<number>. A flapping sink refuses with 503 in
// every other 150 ms.
type crashSink struct {
	srv      *httptest.Server
	flapping bool

	mu       sync.Mutex
	accepted map[string][]crashCopy // fingerprint → deliveries accepted, in order
}

func newCrashSink(t *testing.T, flapping bool) *crashSink {
	s := &crashSink{flapping: flapping, accepted: map[string][]crashCopy{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *crashSink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var a core.EnrichedAlert
	if err == nil {
		err = json.Unmarshal(body, &a)
	}
	process, perr := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/p"))
	if err == nil && perr != nil {
		err = fmt.Errorf("path %q names no process: %w", r.URL.Path, perr)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.flapping && time.Now().UnixMilli()/150%2 == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	s.accepted[a.Alert.Fingerprint] = append(s.accepted[a.Alert.Fingerprint], crashCopy{string(a.Alert.Status), process})
	s.mu.Unlock()
}

// crashAlert is one alert of the stream; every fourth also resolves.
type crashAlert struct {
	fp       string
	labels   map[string]string
	startsAt time.Time
	resolves bool
}

func crashPayload(t testing.TB, status string, alerts []crashAlert) []byte {
	t.Helper()
	msg := amMessage{Version: "4", GroupKey: `{}:{alertname="E2ECrash"}`}
	msg.Receiver, msg.Status = "am-fanout", status
	for _, a := range alerts {
		ta := template.Alert{Status: status, Labels: a.labels, StartsAt: a.startsAt, Fingerprint: a.fp}
		if status == "resolved" {
			ta.EndsAt = a.startsAt.Add(time.Minute)
		}
		msg.Alerts = append(msg.Alerts, ta)
	}
	body, err := json.Marshal(msg)
	if err != nil {
		t.Fatalf("encoding a payload: %v", err)
	}
	return body
}

// crashProcess is am-fanout restarted on one storage folder after each
// kill; each process gets the config that config makes for its number.
type crashProcess struct {
	t       *testing.T
	cfgFile string
	config  func(process int) string
	storage string
	url     atomic.Pointer[string]
	proc    *process
	number  int
	// sameAddress restarts each process on the address of the first, so
	// that a client configured with it (Alertmanager) reaches the next.
	sameAddress bool
}

func (c *crashProcess) start() {
	c.t.Helper()
	if err := os.WriteFile(c.cfgFile, []byte(c.config(c.number)), 0o600); err != nil {
		c.t.Fatal(err)
	}
	args := func(addr string) []string {
		return []string{"--config.file=" + c.cfgFile, "--storage.path=" + c.storage,
			"--web.listen-address=" + addr, "--log.level=warn"}
	}
	var proc *process
	var addr string
	if prev := c.url.Load(); c.sameAddress && prev != nil {
		addr = strings.TrimPrefix(*prev, "http://")
		var err error
		if proc, err = serveAt(c.t, "am-fanout", bins.fanout, addr, args); err != nil {
			c.t.Fatalf("am-fanout did not become ready again on %s: %v", addr, err)
		}
	} else {
		proc, addr = startServing(c.t, "am-fanout", bins.fanout, args)
	}
	u := "http://" + addr
	c.proc = proc
	c.url.Store(&u)
}

// kill kills the process and returns the deliveries its store holds as
// pending, as crashKeys: what it had not finished when it died.
func (c *crashProcess) kill() map[string]bool {
	c.t.Helper()
	_ = c.proc.cmd.Process.Signal(syscall.SIGKILL)
	<-c.proc.exited
	// The dead process no longer locks the file, so it opens at once:
	// opening it replays its write-ahead log, as the next process would,
	// and what it resumes is what was pending at the kill.
	st, err := outbox.Open(filepath.Join(c.storage, "outbox.db"), outbox.StoreOptions{})
	if err != nil {
		c.t.Fatalf("reading the store of a killed process: %v", err)
	}
	defer st.Close()
	pending := map[string]bool{}
	err = st.Load(func(cand *outbox.Candidate) {
		d := cand.Delivery
		pending[crashKey(d.Target, d.Alert.Alert.Fingerprint, string(d.Alert.Alert.Status))] = true
	})
	if err != nil {
		c.t.Fatalf("reading the pending deliveries of a killed process: %v", err)
	}
	return pending
}

// crashKey names one (target, alert, status) delivery.
func crashKey(target, fp, status string) string { return target + "/" + fp + "/" + status }

// post sends a notification until am-fanout answers 200, as Alertmanager
// does, across kills and restarts.
func (c *crashProcess) post(body []byte, stop <-chan struct{}) bool {
	for {
		resp, err := client.Post(*c.url.Load()+"/webhook", "application/json", bytes.NewReader(body))
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		select {
		case <-stop:
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestCrashLosesNothing streams alerts through am-fanout to three
// targets, one flapping, while killing am-fanout with SIGKILL at random
// moments and restarting it on the same storage. Every (alert, target)
// must be delivered at least once, a resolved never followed by its
// firing, and every duplicate must follow a kill that found that delivery
// still pending in the store. AM_FANOUT_CRASH_ALERTS sets the stream's size;
// AM_FANOUT_CRASH_SEED repeats the kill times of a logged run.
func TestCrashLosesNothing(t *testing.T) {
	total := 2000
	if v := os.Getenv("AM_FANOUT_CRASH_ALERTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("AM_FANOUT_CRASH_ALERTS=%q is not a positive number", v)
		}
		total = n
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("AM_FANOUT_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("AM_FANOUT_CRASH_SEED=%q is not an unsigned number", v)
		}
		seed = n
	}
	t.Logf("kill times from seed %d: AM_FANOUT_CRASH_SEED=%d repeats them", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	sinks := []*crashSink{newCrashSink(t, false), newCrashSink(t, false), newCrashSink(t, true)}
	dir := t.TempDir()
	c := &crashProcess{t: t, cfgFile: filepath.Join(dir, "am-fanout.yml"), storage: filepath.Join(dir, "storage"),
		config: func(process int) string {
			cfg := crashConfig
			for i, s := range sinks {
				cfg += fmt.Sprintf("  - {name: sink-%d, type: webhook, url: \"%s/p%d\", format: enriched}\n", i, s.srv.URL, process)
			}
			return cfg
		}}
	c.start()

	alerts := make([]crashAlert, total)
	for i := range alerts {
		labels := map[string]string{"alertname": "E2ECrash", "seq": strconv.Itoa(i)}
		alerts[i] = crashAlert{fp: fmt.Sprintf("%016x", i+1), labels: labels,
			startsAt: time.Now().Add(-time.Hour).UTC().Truncate(time.Second), resolves: i%4 == 0}
	}
	stop := make(chan struct{})
	defer close(stop)
	sent := sendCrashStream(t, c, alerts, stop)
	pendingAtKills := killWhileSending(t, c, sent, rng)

	waitFor(t, 2*time.Minute, "every (alert, target) delivered", func() (bool, string) {
		missing := 0
		for _, s := range sinks {
			missing += missingDeliveries(s, alerts)
		}
		return missing == 0, fmt.Sprintf("%d deliveries missing", missing)
	})
	checkCrashOutcome(t, sinks, alerts, pendingAtKills)
}

// sendCrashStream sends the alerts in notifications of five from four
// senders, a resolving chunk's resolved notification right after its
// firing one; the channel closes when all were answered 200.
func sendCrashStream(t *testing.T, c *crashProcess, alerts []crashAlert, stop <-chan struct{}) <-chan struct{} {
	chunks := make(chan []crashAlert)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for chunk := range chunks {
				if !c.post(crashPayload(t, "firing", chunk), stop) {
					return
				}
				var resolving []crashAlert
				for _, a := range chunk {
					if a.resolves {
						resolving = append(resolving, a)
					}
				}
				if len(resolving) > 0 && !c.post(crashPayload(t, "resolved", resolving), stop) {
					return
				}
			}
		})
	}
	go func() {
		for i := 0; i < len(alerts); i += 5 {
			chunks <- alerts[i:min(i+5, len(alerts))]
		}
		close(chunks)
		wg.Wait()
		close(done)
	}()
	return done
}

// killWhileSending kills and restarts am-fanout after random times until
// the stream is sent, then once more, and returns the deliveries pending
// in the store at each kill, indexed by the number of the killed process.
func killWhileSending(t *testing.T, c *crashProcess, sent <-chan struct{}, rng *rand.Rand) []map[string]bool {
	var pendingAt []map[string]bool
	for last := false; !last; {
		after := time.Duration(200+rng.IntN(1300)) * time.Millisecond
		select {
		case <-sent:
			last = true
		case <-time.After(after):
		}
		pending := c.kill()
		if last {
			t.Logf("kill %d: once the stream was sent; %d deliveries pending", c.number, len(pending))
		} else {
			t.Logf("kill %d: %v after it was ready; %d deliveries pending", c.number, after, len(pending))
		}
		pendingAt = append(pendingAt, pending)
		c.number++
		c.start()
	}
	return pendingAt
}

func missingDeliveries(s *crashSink, alerts []crashAlert) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	missing := 0
	for _, a := range alerts {
		got := s.accepted[a.fp]
		if !accepted(got, "firing") && !(a.resolves && accepted(got, "resolved")) {
			missing++
		}
		if a.resolves && !accepted(got, "resolved") {
			missing++
		}
	}
	return missing
}

func accepted(cs []crashCopy, status string) bool {
	for _, c := range cs {
		if c.status == status {
			return true
		}
	}
	return false
}

// checkCrashOutcome checks the order, and that every duplicate is owed
// to a kill: its previous copy came from a process that was killed while
// the store still held that delivery as pending, so its outcome was not
// durable. No timing is assumed; a duplicate a kill does not explain, or
// one from a single process, is an error.
func checkCrashOutcome(t *testing.T, sinks []*crashSink, alerts []crashAlert, pendingAt []map[string]bool) {
	explained := func(key string, from, to int) bool {
		for k := from; k < to && k < len(pendingAt); k++ {
			if pendingAt[k][key] {
				return true
			}
		}
		return false
	}
	dups, delivered := 0, 0
	for i, s := range sinks {
		target := fmt.Sprintf("sink-%d", i)
		s.mu.Lock()
		for _, a := range alerts {
			got := s.accepted[a.fp]
			delivered += len(got)
			last := map[string]int{} // status → process of its latest copy
			for j, c := range got {
				if prev, seen := last[c.status]; seen {
					dups++
					if !explained(crashKey(target, a.fp, c.status), prev, c.process) {
						t.Errorf("%s got alert %s %s again from process %d after process %d, and no kill between left it pending: %v",
							target, a.fp, c.status, c.process, prev, got)
					}
				}
				last[c.status] = c.process
				if c.status == "firing" && j > 0 && got[j-1].status == "resolved" {
					t.Errorf("%s got alert %s firing after its resolved: %v", target, a.fp, got)
				}
			}
		}
		s.mu.Unlock()
	}
	t.Logf("%d alerts, %d deliveries accepted by the targets, %d duplicates, each after a kill that left it pending",
		len(alerts), delivered, dups)
}
