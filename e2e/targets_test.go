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
		var m amMessage
		if err := json.Unmarshal(d.body, &m); err != nil {
			t.Fatalf("a delivery is not an Alertmanager payload: %v: %s", err, d.body)
		}
		msgs = append(msgs, m)
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
