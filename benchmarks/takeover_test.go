package benchmarks

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// takeoverAlerts is how many alerts are pending, each to every target,
// when the lane leader is killed.
const takeoverAlerts = 50

// BenchmarkTakeover measures how soon a surviving replica takes over the
// lanes of one killed with -9. Two replicas share a JetStream store on a
// three-node embedded cluster (R3); the targets hold every attempt of the
// lane leader unanswered, so that all the deliveries are pending (in
// flight or waiting in the lanes) when it is killed. One iteration is one
// fresh pair on streams of their own: the time runs from the kill to the
// survivor's first delivery and to its last. It reports their means and
// the largest last, for storage.nats.lease_ttl 15s (the default) and 3s.
// Run it with a small fixed count, e.g. -benchtime=3x.
func BenchmarkTakeover(b *testing.B) {
	nats := startNATS(b, 3)
	for _, ttl := range []string{"15s", "3s"} {
		b.Run("lease-ttl="+ttl, func(b *testing.B) {
			var first, last, worst time.Duration
			n := 0
			for b.Loop() {
				f, l := takeover(b, nats, ttl, fmt.Sprintf("takeover-%s-%d", ttl, n))
				first, last, worst = first+f, last+l, max(worst, l)
				n++
			}
			b.ReportMetric((first / time.Duration(n)).Seconds(), "first-delivery-s")
			b.ReportMetric((last / time.Duration(n)).Seconds(), "last-delivery-s")
			b.ReportMetric(worst.Seconds(), "max-last-delivery-s")
			b.ReportMetric(takeoverAlerts*targets, "deliveries")
		})
	}
}

// takeover runs one pair of replicas on streams named by prefix, kills
// the lane leader once the targets hold some of its attempts, and returns
// how long after the kill the survivor delivered first and last.
func takeover(b *testing.B, nats []string, ttl, prefix string) (first, last time.Duration) {
	sink := newHoldingSink()
	defer sink.srv.Close()
	replicas := make([]*server, 2)
	for i := range replicas {
		urls := make([]string, targets)
		for t := range urls {
			urls[t] = fmt.Sprintf("%s/r%d/t%d", sink.srv.URL, i, t)
		}
		storage := natsStorage(nats, 3, "stream_prefix: "+prefix+", lease_ttl: "+ttl)
		replicas[i] = startServer(b, config(urls, storage), "--log.level=warn")
	}
	client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	for seq := range takeoverAlerts / 10 {
		if _, err := post(client, replicas[seq%2].url, seq, 10, true); err != nil {
			b.Fatal(err)
		}
	}
	leader := -1
	for deadline := time.Now().Add(time.Minute); leader < 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("no replica ran the lanes within a minute")
		}
		for i, r := range replicas {
			if lanesLeader(client, r.url) && sink.held(i) > 0 {
				leader = i
			}
		}
	}
	survivor := 1 - leader
	sink.open(survivor)
	killed := time.Now()
	replicas[leader].kill()
	want := int64(takeoverAlerts * targets)
	for deadline := killed.Add(4 * time.Minute); sink.count.Load() < want; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("the survivor delivered %d of %d within 4 minutes of the kill", sink.count.Load(), want)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if got := sink.count.Load(); got != want {
		b.Fatalf("the survivor delivered %d, want %d: none was delivered before the kill", got, want)
	}
	replicas[survivor].stop(b)
	f, l := sink.times()
	return f.Sub(killed), l.Sub(killed)
}

// lanesLeader reports whether the replica at url says it runs the lanes.
func lanesLeader(c *http.Client, url string) bool {
	resp, err := c.Get(url + "/metrics")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if sc.Text() == "am_fanout_lanes_leader 1" {
			return true
		}
	}
	return false
}

// holdingSink is the targets of both replicas, told apart by the first
// element of the path (/r0/, /r1/). It holds every request unanswered
// until its replica's path is opened, or the request ends (its replica
// died), and counts the requests it answers and when the first and the
// last came.
type holdingSink struct {
	srv         *httptest.Server
	gates       [2]chan struct{}
	waiting     [2]atomic.Int64
	count       atomic.Int64
	mu          sync.Mutex
	first, last time.Time
}

func newHoldingSink() *holdingSink {
	s := &holdingSink{gates: [2]chan struct{}{make(chan struct{}), make(chan struct{})}}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := 0
		if strings.HasPrefix(r.URL.Path, "/r1/") {
			i = 1
		}
		// Read to the end, so that the server watches the connection and
		// the request ends when its replica dies.
		_, _ = io.Copy(io.Discard, r.Body)
		s.waiting[i].Add(1)
		select {
		case <-s.gates[i]:
		case <-r.Context().Done():
			return
		}
		now := time.Now()
		s.mu.Lock()
		if s.first.IsZero() {
			s.first = now
		}
		s.last = now
		s.mu.Unlock()
		s.count.Add(1)
	}))
	return s
}

// held is how many requests replica i has sent.
func (s *holdingSink) held(i int) int64 { return s.waiting[i].Load() }

// open lets replica i's requests through.
func (s *holdingSink) open(i int) { close(s.gates[i]) }

func (s *holdingSink) times() (first, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, s.last
}
