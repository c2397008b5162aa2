package opsgenietest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// Opsgenie is Opsgenie's Alert API v2 as documented in the Alert API and
// response pages: GenieKey auth (401 otherwise), JSON bodies (415
// otherwise), Create Alert and Close Alert by alias with their field
// limits (422 with Opsgenie's error body otherwise), and 202 with
// {"result","took","requestId"} on success. Scripted answers come first.
type Opsgenie struct {
	srv *httptest.Server
	key string

	mu       sync.Mutex
	script   publishtest.Script
	requests int
	calls    []OpsgenieCall // accepted requests
	rejects  []string
}

// OpsgenieCall is a request the Opsgenie fake accepted.
type OpsgenieCall struct {
	Path   string // escaped, as sent
	Query  string
	Body   []byte
	Fields map[string]any // the body, decoded
}

// NewOpsgenie starts an Opsgenie fake that accepts the API key key; it
// stops when the test ends.
func NewOpsgenie(t testing.TB, key string) *Opsgenie {
	f := &Opsgenie{key: key}
	f.srv = publishtest.Serve(t, http.HandlerFunc(f.serve))
	return f
}

// URL is the fake's API base, as an opsgenie target's url takes it.
func (f *Opsgenie) URL() string { return f.srv.URL }

// Close stops the fake, as if Opsgenie were unreachable.
func (f *Opsgenie) Close() { f.srv.Close() }

// Script queues answers served, in order, before any check.
func (f *Opsgenie) Script(a ...publishtest.Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, a...)
}

// Calls are the accepted requests, in order.
func (f *Opsgenie) Calls() []OpsgenieCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Rejects say why the fake refused what it refused.
func (f *Opsgenie) Rejects() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rejects)
}

// Requests counts every request the fake answered, scripted ones included.
func (f *Opsgenie) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *Opsgenie) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if a, ok := f.script.Next(); ok {
		a.Write(w, "")
		return
	}
	status, msg, errs, call := f.check(r)
	w.Header().Set("Content-Type", "application/json")
	if status != http.StatusAccepted {
		f.rejects = append(f.rejects, fmt.Sprint(msg, errs))
		w.WriteHeader(status)
		answer := map[string]any{"message": msg, "took": 0.001, "requestId": "9ae63dd7-ed00-4c81-86f0-c4ffd33142c9"}
		if len(errs) > 0 {
			answer["errors"] = errs
		}
		_ = json.NewEncoder(w).Encode(answer)
		return
	}
	f.calls = append(f.calls, call)
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"result": "Request will be processed", "took": 0.302, "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"})
}

// check returns the status Opsgenie would answer, its message, the field
// errors of a 422, and the request when it is accepted.
func (f *Opsgenie) check(r *http.Request) (int, string, map[string]string, OpsgenieCall) {
	var call OpsgenieCall
	if r.Header.Get("Authorization") != "GenieKey "+f.key {
		return http.StatusUnauthorized, "Key format is not valid!", nil, call
	}
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "Method not allowed", nil, call
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return http.StatusUnsupportedMediaType, "Unsupported media type", nil, call
	}
	body, _ := io.ReadAll(r.Body)
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		return http.StatusBadRequest, "Could not parse request body", nil, call
	}
	call = OpsgenieCall{Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Body: body, Fields: fields}
	var errs map[string]string
	switch {
	case r.URL.Path == "/v2/alerts":
		errs = checkOpsgenieCreate(fields)
	case strings.HasPrefix(r.URL.Path, "/v2/alerts/") && strings.HasSuffix(r.URL.Path, "/close"):
		alias := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/alerts/"), "/close")
		errs = checkOpsgenieClose(alias, r.URL.Query().Get("identifierType"), fields)
	default:
		return http.StatusNotFound, "Resource not found", nil, call
	}
	if len(errs) > 0 {
		return http.StatusUnprocessableEntity, "Request body is not processable. Please check the errors.", errs, call
	}
	return http.StatusAccepted, "", nil, call
}

// opsgenieLimits are the documented maximum lengths of string fields.
var opsgenieLimits = map[string]int{
	"message": 130, "alias": 512, "description": 15000, "entity": 512,
	"source": 100, "user": 100, "note": 25000, "priority": 2,
}

func checkOpsgenieStrings(fields map[string]any, errs map[string]string) {
	for k, max := range opsgenieLimits {
		if v, ok := fields[k]; ok {
			s, isStr := v.(string)
			if !isStr || utf8.RuneCountInString(s) > max {
				errs[k] = fmt.Sprintf("%s must be a string of at most %d characters", k, max)
			}
		}
	}
}

func checkOpsgenieCreate(fields map[string]any) map[string]string {
	errs := map[string]string{}
	checkOpsgenieStrings(fields, errs)
	if s, _ := fields["message"].(string); strings.TrimSpace(s) == "" {
		errs["message"] = "Message can not be empty."
	}
	if p, ok := fields["priority"]; ok && !slices.Contains([]any{"P1", "P2", "P3", "P4", "P5"}, p) {
		errs["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
	}
	tags, _ := fields["tags"].([]any)
	if len(tags) > 20 {
		errs["tags"] = "Tags can have at most 20 elements"
	}
	for _, t := range tags {
		if s, _ := t.(string); s == "" || utf8.RuneCountInString(s) > 50 {
			errs["tags"] = "Each tag must be 1 to 50 characters"
		}
	}
	details, _ := fields["details"].(map[string]any)
	total := 0
	for k, v := range details {
		s, ok := v.(string)
		if !ok {
			errs["details"] = "Details values must be strings"
		}
		total += utf8.RuneCountInString(k) + utf8.RuneCountInString(s)
	}
	if total > 8000 {
		errs["details"] = "Details can be at most 8000 characters in total"
	}
	checkOpsgenieResponders("responders", fields, []string{"team", "user", "escalation", "schedule"}, errs)
	checkOpsgenieResponders("visibleTo", fields, []string{"team", "user"}, errs)
	return errs
}

// checkOpsgenieResponders checks the documented responder shapes: a type,
// and an id, a name, or (users only) a username.
func checkOpsgenieResponders(field string, fields map[string]any, types []string, errs map[string]string) {
	rs, _ := fields[field].([]any)
	if len(rs) > 50 {
		errs[field] = field + " can have at most 50 elements"
	}
	for _, it := range rs {
		r, _ := it.(map[string]any)
		typ, _ := r["type"].(string)
		if !slices.Contains(types, typ) {
			errs[field] = fmt.Sprintf("%s type %q is not one of %v", field, typ, types)
			continue
		}
		named := r["name"] != nil
		if typ == "user" {
			named = r["username"] != nil
		}
		if r["id"] == nil && !named {
			errs[field] = field + " need an id, a name or a username"
		}
	}
}

func checkOpsgenieClose(alias, identifierType string, fields map[string]any) map[string]string {
	errs := map[string]string{}
	checkOpsgenieStrings(fields, errs)
	if identifierType != "alias" {
		errs["identifierType"] = "identifierType must be alias for an alias"
	}
	if alias == "" || utf8.RuneCountInString(alias) > 512 {
		errs["identifier"] = "alias must be 1 to 512 characters"
	}
	return errs
}
