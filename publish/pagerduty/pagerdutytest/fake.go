package pagerdutytest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// PagerDutyMaxEvent is the documented 512 KB limit of an Events API v2
// event, counted in bytes.
const PagerDutyMaxEvent = 512000

// PagerDuty is PagerDuty's Events API v2 as documented in "Send an Alert
// Event" and the API overview: it checks what PagerDuty checks and answers
// 202 with PagerDuty's success body, or 400 "invalid event" with the
// errors found. Past PagerDutyEventsPerWindow events of one routing key
// in the PagerDutyWindow before, it answers 429 and ingests nothing.
// Scripted answers (429, 5xx) are given first.
type PagerDuty struct {
	srv *httptest.Server

	mu       sync.Mutex
	now      func() time.Time
	limit    int
	window   time.Duration
	sent     map[string][]time.Time // per routing key, the calls within window
	script   publishtest.Script
	requests int
	events   []map[string]any // accepted events
	bodies   [][]byte
	rejects  []string // errors of rejected events
	agents   []string // User-Agent of accepted events
}

// NewPagerDuty starts a PagerDuty fake that stops when the test ends.
func NewPagerDuty(t testing.TB) *PagerDuty {
	f := &PagerDuty{now: time.Now, limit: PagerDutyEventsPerWindow, window: PagerDutyWindow}
	f.srv = publishtest.Serve(t, http.HandlerFunc(f.serve))
	return f
}

// The Events API v2 takes "approximately 120 calls/minute per integration
// key", "calculated over a 60 second window looking back from the current
// time"; past it, "429 - Request Limit Exceeded", without a Retry-After
// (https://developer.pagerduty.com/docs/events-API-v2/rate-limits/).
const (
	PagerDutyEventsPerWindow = 120
	PagerDutyWindow          = time.Minute
)

// SetRateLimit changes the calls a routing key may make in a window; a
// limit of 0 switches the limit off.
func (f *PagerDuty) SetRateLimit(limit int, window time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.limit, f.window, f.sent = limit, window, nil
}

// SetClock gives the limit a clock, such as a publishtest.Clock's Now, in
// place of the wall clock.
func (f *PagerDuty) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// admit counts a call of key at now, reporting whether it is within the
// limit; refused calls do not count.
func (f *PagerDuty) admit(key string, now time.Time) bool {
	if f.limit <= 0 {
		return true
	}
	if f.sent == nil {
		f.sent = map[string][]time.Time{}
	}
	recent := slices.DeleteFunc(f.sent[key], func(at time.Time) bool { return !at.After(now.Add(-f.window)) })
	if len(recent) >= f.limit {
		f.sent[key] = recent
		return false
	}
	f.sent[key] = append(recent, now)
	return true
}

// URL is the fake's /v2/enqueue endpoint.
func (f *PagerDuty) URL() string { return f.srv.URL + "/v2/enqueue" }

// Close stops the fake, as if PagerDuty were unreachable.
func (f *PagerDuty) Close() { f.srv.Close() }

// Script queues answers served, in order, before any check.
func (f *PagerDuty) Script(a ...publishtest.Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, a...)
}

// Events are the accepted events, decoded, in order.
func (f *PagerDuty) Events() []map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

// Bodies are the accepted events as sent, in order.
func (f *PagerDuty) Bodies() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.bodies)
}

// Rejects are the errors the fake found in the events it refused.
func (f *PagerDuty) Rejects() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rejects)
}

// UserAgents are the User-Agent headers of the accepted events.
func (f *PagerDuty) UserAgents() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.agents)
}

// Requests counts every request the fake answered, scripted ones included.
func (f *PagerDuty) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *PagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if a, ok := f.script.Next(); ok {
		a.Write(w, "")
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, PagerDutyMaxEvent+1))
	var keyed struct {
		RoutingKey string `json:"routing_key"`
	}
	if json.Unmarshal(body, &keyed) == nil && !f.admit(keyed.RoutingKey, f.now()) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "throttle event", "message": "Request Limit Exceeded"})
		return
	}
	ev, errs := checkPagerDutyEvent(r, body)
	if len(errs) > 0 {
		f.rejects = append(f.rejects, errs...)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
		return
	}
	f.events = append(f.events, ev)
	f.agents = append(f.agents, r.UserAgent())
	f.bodies = append(f.bodies, body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev["dedup_key"]})
}

// checkPagerDutyEvent returns the event and what is wrong with it.
func checkPagerDutyEvent(r *http.Request, body []byte) (map[string]any, []string) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return nil, []string{"Content-Type must be application/json"}
	}
	if len(body) > PagerDutyMaxEvent {
		return nil, []string{"Event exceeds the 512 KB size limit"}
	}
	var ev map[string]any
	if err := json.Unmarshal(body, &ev); err != nil {
		return nil, []string{"Event is not valid JSON"}
	}
	var errs []string
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	if n := utf8.RuneCountInString(str(ev, "routing_key")); n != 32 {
		errs = append(errs, "Length of 'routing_key' is incorrect (should be 32 characters)")
	}
	action := str(ev, "event_action")
	if !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, action) {
		errs = append(errs, "'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
	}
	dedup := str(ev, "dedup_key")
	if utf8.RuneCountInString(dedup) > 255 {
		errs = append(errs, "'dedup_key' is too long (maximum 255 characters)")
	}
	if action != "trigger" && dedup == "" {
		errs = append(errs, "'dedup_key' is required for acknowledge and resolve")
	}
	if action == "trigger" {
		errs = append(errs, checkPagerDutyPayload(ev)...)
	}
	return ev, errs
}

func checkPagerDutyPayload(ev map[string]any) []string {
	p, ok := ev["payload"].(map[string]any)
	if !ok {
		return []string{"'payload' is missing or not an object"}
	}
	var errs []string
	for _, k := range []string{"summary", "source", "severity"} {
		if s, _ := p[k].(string); s == "" {
			errs = append(errs, "'payload."+k+"' is missing or blank")
		}
	}
	if s, _ := p["summary"].(string); utf8.RuneCountInString(s) > 1024 {
		errs = append(errs, "'payload.summary' is too long (maximum 1024 characters)")
	}
	if s, _ := p["severity"].(string); !slices.Contains([]string{"critical", "error", "warning", "info"}, s) {
		errs = append(errs, "'payload.severity' is invalid (must be one of critical, error, warning, info)")
	}
	if ts, ok := p["timestamp"]; ok {
		if s, _ := ts.(string); s == "" || !validTimestamp(s) {
			errs = append(errs, "'payload.timestamp' must be an ISO 8601 date")
		}
	}
	if d, ok := p["custom_details"]; ok {
		if _, isObj := d.(map[string]any); !isObj {
			errs = append(errs, "'payload.custom_details' must be an object")
		}
	}
	for _, k := range []string{"links", "images"} {
		items, _ := ev[k].([]any)
		need := map[string]string{"links": "href", "images": "src"}[k]
		for _, it := range items {
			if m, _ := it.(map[string]any); m == nil || m[need] == "" || m[need] == nil {
				errs = append(errs, "'"+k+"' items need '"+need+"'")
			}
		}
	}
	return errs
}

// validTimestamp reports whether s is an ISO 8601 date and time, as
// payload.timestamp must be.
func validTimestamp(s string) bool {
	_, err := time.Parse(time.RFC3339, s)
	return err == nil
}
