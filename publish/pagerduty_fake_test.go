package publish

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"unicode/utf8"
)

// incidentAnswer is a scripted answer the PagerDuty and Opsgenie fakes
// give instead of their own.
type incidentAnswer struct {
	status     int
	retryAfter string
	body       string
}

// fakePagerDuty is PagerDuty's Events API v2 as documented in "Send an
// Alert Event" and the API overview: it checks what PagerDuty checks and
// answers 202 with PagerDuty's success body, or 400 "invalid event" with
// the errors found. Scripted answers (429, 5xx) are given first.
type fakePagerDuty struct {
	srv *httptest.Server

	mu      sync.Mutex
	script  []incidentAnswer
	events  []map[string]any // accepted events
	bodies  [][]byte
	rejects []string // errors of rejected events
	agents  []string // User-Agent of accepted events
}

func newFakePagerDuty(t *testing.T) *fakePagerDuty {
	f := &fakePagerDuty{}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePagerDuty) url() string { return f.srv.URL + "/v2/enqueue" }

func (f *fakePagerDuty) answer(a ...incidentAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, a...)
}

func (f *fakePagerDuty) accepted() ([]map[string]any, [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events), slices.Clone(f.bodies)
}

func (f *fakePagerDuty) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.script) > 0 {
		a := f.script[0]
		f.script = f.script[1:]
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, a.body)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, pagerDutyMaxEvent+1))
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
	if len(body) > pagerDutyMaxEvent {
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
