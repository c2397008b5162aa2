package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/outbox/jetstreamtest"
)

// countingSink is a target that answers with the status it holds and
// counts, per alert fingerprint, the notifications that named it, and
// per wall-clock second the requests it answered.
type countingSink struct {
	srv     *httptest.Server
	status  atomic.Int64
	mu      sync.Mutex
	got     map[string]int
	last    time.Time
	seconds map[int64]int
}

func newCountingSink(t *testing.T) *countingSink {
	s := &countingSink{got: map[string]int{}, seconds: map[int64]int{}}
	s.status.Store(http.StatusOK)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		code := int(s.status.Load())
		s.mu.Lock()
		s.seconds[time.Now().Unix()]++
		s.mu.Unlock()
		if code == http.StatusOK {
			var m struct {
				Alerts []struct {
					Fingerprint string `json:"fingerprint"`
				} `json:"alerts"`
			}
			if json.Unmarshal(body, &m) == nil {
				s.mu.Lock()
				for _, a := range m.Alerts {
					s.got[a.Fingerprint]++
				}
				s.last = time.Now()
				s.mu.Unlock()
			}
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// counts returns how many alerts arrived and how many arrived more than
// once, and when the last one did.
func (s *countingSink) counts() (distinct, twice int, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.got {
		if n > 1 {
			twice++
		}
	}
	return len(s.got), twice, s.last
}

// busiestSecond is the most requests answered within one wall-clock
// second, and how many seconds saw more than limit.
func (s *countingSink) busiestSecond(limit int) (most, over int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.seconds {
		most = max(most, n)
		if n > limit {
			over++
		}
	}
	return most, over
}

// TestHighlyAvailableOnNATS: two replicas share one NATS JetStream store
// on a three-node cluster. A notification that Alertmanager's HA sends to
// both is delivered once; when the replica running the lanes is killed
// with -9 and a NATS node is lost with its disk while the target is down,
// the other replica takes the lanes and delivers everything once the
// target is back.
func TestHighlyAvailableOnNATS(t *testing.T) {
	nats := jetstreamtest.Start(t, 3)
	sink := newCountingSink(t)
	config := fmt.Sprintf(`
storage:
  backend: nats
  nats:
    servers: [%s]
    replicas: 3
    lease_ttl: 3s
targets:
  - name: sink
    type: webhook
    url: %s
    format: alertmanager
`, strings.Join(nats.URLs(0), ", "), sink.srv.URL)
	replicas := []*fanoutServer{startFanout(t, config, "--log.level=info"), startFanout(t, config, "--log.level=info")}

	post := func(f *fanoutServer, body []byte) {
		t.Helper()
		if code, _, _, raw := f.postWebhook(t, body); code != http.StatusOK {
			t.Fatalf("POST /webhook to %s answered %d: %s", f.url, code, raw)
		}
	}
	payload := func(i int) []byte {
		return v4Payload(t, "firing", map[string]string{"alertname": "E2EHA", "instance": fmt.Sprintf("i%02d", i)})
	}
	// Alertmanager's HA peers both notify: each replica gets every
	// notification.
	for i := range 10 {
		body := payload(i)
		post(replicas[0], body)
		post(replicas[1], body)
	}
	waitFor(t, waitTimeout, "10 alerts to arrive", func() (bool, string) {
		n, _, _ := sink.counts()
		return n == 10, fmt.Sprintf("%d arrived", n)
	})
	time.Sleep(time.Second)
	if n, twice, _ := sink.counts(); n != 10 || twice != 0 {
		t.Errorf("%d alerts arrived, %d of them twice; want 10 once each though both replicas got each notification", n, twice)
	}

	// The target goes down; ten more alerts wait in the lanes.
	sink.status.Store(http.StatusServiceUnavailable)
	for i := 10; i < 20; i++ {
		post(replicas[i%2], payload(i))
	}
	leader, survivor := -1, -1
	for i, f := range replicas {
		if v, _ := metricValue(f.metrics(t), "am_fanout_lanes_leader", nil); v == 1 {
			leader, survivor = i, 1-i
		}
	}
	if leader < 0 {
		t.Fatal("no replica says it runs the lanes (am_fanout_lanes_leader)")
	}
	_ = replicas[leader].proc.cmd.Process.Signal(syscall.SIGKILL)
	<-replicas[leader].proc.exited
	// A NATS node is lost with its disk; the other two keep the quorum.
	nats.StopNode(2)
	if err := os.RemoveAll(nats.Dirs[2]); err != nil {
		t.Fatal(err)
	}
	sink.status.Store(http.StatusOK)
	recovered := time.Now()
	waitFor(t, 60*time.Second, "the surviving replica to deliver the other 10 alerts", func() (bool, string) {
		n, _, _ := sink.counts()
		return n == 20, fmt.Sprintf("%d of 20 arrived", n)
	})
	n, twice, last := sink.counts()
	t.Logf("lane leader killed with -9 and a NATS node lost with its disk while the target was down: %d of 20 alerts delivered, the last %s after the target recovered (lease TTL 3s), %d delivered twice",
		n, last.Sub(recovered).Round(10*time.Millisecond), twice)
	if v, _ := metricValue(replicas[survivor].metrics(t), "am_fanout_lanes_leader", nil); v != 1 {
		t.Errorf("am_fanout_lanes_leader of the surviving replica = %v, want 1", v)
	}
	// At-least-once: only attempts in flight at the kill may repeat; the
	// target refused every one of them.
	if twice != 0 {
		t.Errorf("%d alerts delivered twice, want none: every attempt before the kill was refused", twice)
	}
	// The surviving replica still accepts with a node down.
	post(replicas[survivor], payload(99))
	waitFor(t, waitTimeout, "an alert accepted after the losses", func() (bool, string) {
		n, _, _ := sink.counts()
		return n == 21, fmt.Sprintf("%d of 21 arrived", n)
	})

	// With a second node gone there is no quorum: nothing can be
	// persisted, and the webhook says so with a 503 for Alertmanager to
	// send the notification again, rather than a 200 it cannot keep.
	nats.StopNode(1)
	for _, r := range replicas {
		// Without a quorum an outcome recorded at the shutdown waits out
		// one store request (10 s, the JetStream store's RequestTimeout)
		// before the replica stops, within its 30 s grace.
		r.proc.stopWithin = 25 * time.Second
	}
	start := time.Now()
	code, _, _, raw := replicas[survivor].postWebhook(t, payload(100))
	t.Logf("without a NATS quorum the webhook answered %d after %s: %s", code, time.Since(start).Round(10*time.Millisecond), strings.TrimSpace(string(raw)))
	if code != http.StatusServiceUnavailable {
		t.Errorf("POST /webhook without a NATS quorum answered %d, want 503: %s", code, raw)
	}
}
