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
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
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

// crashInFlightWindow is how long after a target answered a delivery
// am-fanout may still be committing that outcome (one group commit; about
// 100 ms at worst with the race detector under this load): a delivery the
// target got within this window before a kill counts as in flight at that
// kill, since the kill may have come before its outcome was durable.
const crashInFlightWindow = 250 * time.Millisecond

// crashSink is a target that records every state it accepted, per alert,
// and when. A flapping sink refuses with 503 in every other 150 ms.
type crashSink struct {
	srv      *httptest.Server
	flapping bool

	mu       sync.Mutex
	accepted map[string][]string // fingerprint → statuses accepted, in order
	times    []time.Time         // of every accepted delivery
}

func newCrashSink(t *testing.T, flapping bool) *crashSink {
	s := &crashSink{flapping: flapping, accepted: map[string][]string{}}
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
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if s.flapping && time.Now().UnixMilli()/150%2 == 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	s.mu.Lock()
	s.accepted[a.Alert.Fingerprint] = append(s.accepted[a.Alert.Fingerprint], string(a.Alert.Status))
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
}

// inFlightAt counts the deliveries accepted within the window before t.
func (s *crashSink) inFlightAt(t time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, at := range s.times {
		if !at.After(t) && t.Sub(at) <= crashInFlightWindow {
			n++
		}
	}
	return n
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

// crashProcess is am-fanout restarted on one storage folder after each kill.
type crashProcess struct {
	t       *testing.T
	cfgFile string
	storage string
	url     atomic.Pointer[string]
	proc    *process
}

func (c *crashProcess) start() {
	c.t.Helper()
	proc, addr := startServing(c.t, "am-fanout", bins.fanout, func(addr string) []string {
		return []string{"--config.file=" + c.cfgFile, "--storage.path=" + c.storage,
			"--web.listen-address=" + addr, "--log.level=warn"}
	})
	u := "http://" + addr
	c.proc = proc
	c.url.Store(&u)
}

func (c *crashProcess) kill() {
	_ = c.proc.cmd.Process.Signal(syscall.SIGKILL)
	<-c.proc.exited
}

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
// firing, and the duplicates must not exceed the deliveries in flight at
// the kills. AM_FANOUT_CRASH_ALERTS sets the stream's size.
func TestCrashLosesNothing(t *testing.T) {
	total := 2000
	if v := os.Getenv("AM_FANOUT_CRASH_ALERTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("AM_FANOUT_CRASH_ALERTS=%q is not a positive number", v)
		}
		total = n
	}
	sinks := []*crashSink{newCrashSink(t, false), newCrashSink(t, false), newCrashSink(t, true)}
	cfg := crashConfig
	for i, s := range sinks {
		cfg += fmt.Sprintf("  - {name: sink-%d, type: webhook, url: %q, format: enriched}\n", i, s.srv.URL)
	}
	dir := t.TempDir()
	c := &crashProcess{t: t, cfgFile: filepath.Join(dir, "am-fanout.yml"), storage: filepath.Join(dir, "storage")}
	if err := os.WriteFile(c.cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
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
	kills := killWhileSending(t, c, sent, sinks)

	waitFor(t, 2*time.Minute, "every (alert, target) delivered", func() (bool, string) {
		missing := 0
		for _, s := range sinks {
			missing += missingDeliveries(s, alerts)
		}
		return missing == 0, fmt.Sprintf("%d deliveries missing", missing)
	})
	checkCrashOutcome(t, sinks, alerts, kills)
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

// killWhileSending kills and restarts am-fanout at random moments until
// the stream is sent, then once more, and returns the deliveries in
// flight at each kill.
func killWhileSending(t *testing.T, c *crashProcess, sent <-chan struct{}, sinks []*crashSink) []int {
	var inFlight []int
	for last := false; !last; {
		select {
		case <-sent:
			last = true
		case <-time.After(time.Duration(200+rand.IntN(1300)) * time.Millisecond):
		}
		c.kill()
		at := time.Now()
		n := 0
		for _, s := range sinks {
			n += s.inFlightAt(at)
		}
		inFlight = append(inFlight, n)
		c.start()
	}
	t.Logf("%d kills; deliveries in flight at each: %v", len(inFlight), inFlight)
	return inFlight
}

func missingDeliveries(s *crashSink, alerts []crashAlert) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	missing := 0
	for _, a := range alerts {
		got := s.accepted[a.fp]
		if !contains(got, "firing") && !(a.resolves && contains(got, "resolved")) {
			missing++
		}
		if a.resolves && !contains(got, "resolved") {
			missing++
		}
	}
	return missing
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// checkCrashOutcome checks the order and counts the duplicates against
// the deliveries in flight at the kills.
func checkCrashOutcome(t *testing.T, sinks []*crashSink, alerts []crashAlert, inFlight []int) {
	budget := 0
	for _, n := range inFlight {
		budget += n
	}
	dups, delivered := 0, 0
	for i, s := range sinks {
		s.mu.Lock()
		for _, a := range alerts {
			got := s.accepted[a.fp]
			delivered += len(got)
			seen := map[string]bool{}
			for j, st := range got {
				if seen[st] {
					dups++
				}
				seen[st] = true
				if st == "firing" && j > 0 && got[j-1] == "resolved" {
					t.Errorf("sink-%d got alert %s firing after its resolved: %v", i, a.fp, got)
				}
			}
		}
		s.mu.Unlock()
	}
	t.Logf("%d alerts, %d deliveries accepted by the targets, %d duplicates, %d in flight at the kills",
		len(alerts), delivered, dups, budget)
	if dups > budget {
		t.Errorf("%d duplicate deliveries, more than the %d in flight at the kills", dups, budget)
	}
}
