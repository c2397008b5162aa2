package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
)

// amMessage is Alertmanager's v4 webhook payload, what a webhook target of
// format "alertmanager" receives.
type amMessage struct {
	template.Data
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// delivery is one request a target server received.
type delivery struct {
	at          time.Time
	contentType string
	body        []byte
}

// targetServer is a local HTTP target: it records every request and
// answers with its statuses in turn, the last one from then on.
type targetServer struct {
	srv      *httptest.Server
	statuses []int

	mu  sync.Mutex
	got []delivery
}

func newTargetServer(t testing.TB, statuses ...int) *targetServer {
	t.Helper()
	if len(statuses) == 0 {
		t.Fatalf("a target server needs a status to answer with")
	}
	s := &targetServer{statuses: statuses}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.got = append(s.got, delivery{at: time.Now(), contentType: r.Header.Get("Content-Type"), body: body})
		status := s.statuses[min(len(s.got), len(s.statuses))-1]
		s.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is where am-fanout posts to this target.
func (s *targetServer) URL() string { return s.srv.URL + "/alerts" }

func (s *targetServer) deliveries() []delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]delivery(nil), s.got...)
}

// amMessages decodes every delivery as an Alertmanager v4 payload.
func (s *targetServer) amMessages(t testing.TB) []amMessage {
	t.Helper()
	var msgs []amMessage
	for _, d := range s.deliveries() {
		msgs = append(msgs, decodeAM(t, d.body))
	}
	return msgs
}

// enrichedAlerts decodes every delivery as an enriched alert.
func (s *targetServer) enrichedAlerts(t testing.TB) []core.EnrichedAlert {
	t.Helper()
	var alerts []core.EnrichedAlert
	for _, d := range s.deliveries() {
		var a core.EnrichedAlert
		if err := json.Unmarshal(d.body, &a); err != nil {
			t.Fatalf("a delivery is not an enriched alert: %v: %s", err, d.body)
		}
		alerts = append(alerts, a)
	}
	return alerts
}

// decodeAM decodes an Alertmanager v4 payload.
func decodeAM(t testing.TB, body []byte) amMessage {
	t.Helper()
	var m amMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("a delivery is not an Alertmanager payload: %v: %s", err, body)
	}
	return m
}

// findAM returns the first Alertmanager payload holding an alert of the
// name and status, and when it arrived.
func (s *targetServer) findAM(t testing.TB, alertname, status string) (amMessage, time.Time, bool) {
	t.Helper()
	for i, m := range s.amMessages(t) {
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == alertname && a.Status == status {
				return m, s.deliveries()[i].at, true
			}
		}
	}
	return amMessage{}, time.Time{}, false
}

// blackhole is a target that accepts connections and never answers, like
// a hung process. It records when each connection opened and when the
// client gave up on it.
type blackhole struct {
	ln net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns []*heldConn
}

type heldConn struct {
	conn           net.Conn
	opened, closed time.Time
	// request is what the client sent before it gave up.
	request []byte
}

func newBlackhole(t testing.TB) *blackhole {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("blackhole: %v", err)
	}
	b := &blackhole{ln: ln}
	b.wg.Add(1)
	go b.accept()
	t.Cleanup(b.close)
	return b
}

func (b *blackhole) URL() string { return fmt.Sprintf("http://%s/alerts", b.ln.Addr()) }

func (b *blackhole) accept() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		h := &heldConn{conn: c, opened: time.Now()}
		b.mu.Lock()
		b.conns = append(b.conns, h)
		b.mu.Unlock()
		b.wg.Add(1)
		go b.hold(h)
	}
}

// hold reads the request and whatever follows without ever answering,
// until the client closes the connection.
func (b *blackhole) hold(h *heldConn) {
	defer b.wg.Done()
	var req bytes.Buffer
	_, _ = io.Copy(&req, io.LimitReader(h.conn, 1<<20))
	_, _ = io.Copy(io.Discard, h.conn)
	b.mu.Lock()
	h.closed, h.request = time.Now(), req.Bytes()
	b.mu.Unlock()
	h.conn.Close()
}

func (b *blackhole) close() {
	b.ln.Close()
	b.mu.Lock()
	for _, h := range b.conns {
		h.conn.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

// connections returns when each connection opened and closed, and what it
// carried (both zero while still open).
func (b *blackhole) connections() []heldConn {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]heldConn, len(b.conns))
	for i, h := range b.conns {
		out[i] = heldConn{opened: h.opened, closed: h.closed, request: h.request}
	}
	return out
}

// phase is a stretch of a scripted target's answers: status, with a
// Retry-After header when retryAfter is set, for lasts from the phase's
// start or until it has answered answers requests, whichever is set; the
// last phase lasts for good.
type phase struct {
	status     int
	retryAfter string
	lasts      time.Duration
	answers    int
}

// answered is one request a scripted target answered.
type answered struct {
	at     time.Time
	status int
	body   []byte
}

// scriptedTarget is a target whose answers follow its phases, the first
// starting with its first request. It records every request and when each
// phase began.
type scriptedTarget struct {
	srv    *httptest.Server
	phases []phase

	mu       sync.Mutex
	got      []answered
	began    []time.Time // of the phases reached
	answered int         // in the current phase
}

func newScriptedTarget(t testing.TB, phases ...phase) *scriptedTarget {
	t.Helper()
	if len(phases) == 0 {
		t.Fatalf("a scripted target needs a phase")
	}
	s := &scriptedTarget{phases: phases}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is where am-fanout posts to this target.
func (s *scriptedTarget) URL() string { return s.srv.URL + "/alerts" }

func (s *scriptedTarget) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	s.mu.Lock()
	if s.began == nil {
		s.began = []time.Time{now}
	}
	s.advance(now)
	p := s.phases[len(s.began)-1]
	s.answered++
	s.got = append(s.got, answered{at: now, status: p.status, body: body})
	s.advance(now)
	s.mu.Unlock()
	if p.retryAfter != "" {
		w.Header().Set("Retry-After", p.retryAfter)
	}
	w.WriteHeader(p.status)
}

// advance moves on to the phase of now; s.mu must be held. A phase ends
// at its start plus its length, or with its last answer.
func (s *scriptedTarget) advance(now time.Time) {
	for len(s.began) < len(s.phases) {
		i := len(s.began) - 1
		p := s.phases[i]
		var end time.Time
		switch {
		case p.lasts > 0 && !now.Before(s.began[i].Add(p.lasts)):
			end = s.began[i].Add(p.lasts)
		case p.answers > 0 && s.answered >= p.answers:
			end = now
		default:
			return
		}
		s.began = append(s.began, end)
		s.answered = 0
	}
}

// phaseBegan is when phase i began; false while it has not.
func (s *scriptedTarget) phaseBegan(i int) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.began != nil {
		s.advance(time.Now())
	}
	if i >= len(s.began) {
		return time.Time{}, false
	}
	return s.began[i], true
}

func (s *scriptedTarget) requests() []answered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]answered(nil), s.got...)
}

// statuses counts the target's answers by status.
func (s *scriptedTarget) statuses() map[int]int {
	out := map[int]int{}
	for _, r := range s.requests() {
		out[r.status]++
	}
	return out
}
