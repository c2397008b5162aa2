package genietest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// Fake is the Alert API v2 as documented in Opsgenie's Alert API, Alert
// API (continued) and response pages, which JSM Operations keeps for its
// integrations: GenieKey auth (401 otherwise), JSON bodies (415
// otherwise), Create Alert, and Close Alert, Update Message and Update
// Description by alias, with their field limits (422 with the API's error
// body otherwise), and 202 with {"result","took","requestId"} on success.
// Scripted answers come first.
type Fake struct {
	srv    *httptest.Server
	key    string
	alerts string // the path of the alerts resource
	// accepted, when set, is told of every accepted request, under mu.
	accepted func(Call)

	mu sync.Mutex // serves one request at a time, so Calls and accepted see one order
	Log
}

// Call is a request the fake accepted.
type Call struct {
	Method string
	Path   string // escaped, as sent
	Query  string
	Body   []byte
	Fields map[string]any // the body, decoded
}

// New starts a fake that accepts the API key key and serves alerts at the
// path alerts, such as /v2/alerts; it stops when the test ends.
func New(t testing.TB, key, alerts string) *Fake {
	f := &Fake{key: key, alerts: alerts}
	f.srv = publishtest.Serve(t, http.HandlerFunc(f.serve))
	return f
}

// Handle is a fake without a server of its own, for a fake that serves
// it among other paths (ServeHTTP); accepted, when not nil, is told of
// every request it accepts, in order.
func Handle(key, alerts string, accepted func(Call)) *Fake {
	return &Fake{key: key, alerts: alerts, accepted: accepted}
}

// ServeHTTP answers as the Alert API.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.serve(w, r) }

// URL is the fake's API base, as a target's url takes it.
func (f *Fake) URL() string { return f.srv.URL }

// Close stops the fake, as if the API were unreachable.
func (f *Fake) Close() { f.srv.Close() }

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if a, ok := f.Next(); ok {
		a.Write(w, "")
		return
	}
	status, msg, errs, call := f.check(r)
	w.Header().Set("Content-Type", "application/json")
	if status != http.StatusAccepted {
		f.Reject(fmt.Sprint(msg, errs))
		w.WriteHeader(status)
		answer := map[string]any{"message": msg, "took": 0.001, "requestId": "9ae63dd7-ed00-4c81-86f0-c4ffd33142c9"}
		if len(errs) > 0 {
			answer["errors"] = errs
		}
		_ = json.NewEncoder(w).Encode(answer)
		return
	}
	f.Accept(call)
	if f.accepted != nil {
		f.accepted(call)
	}
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]any{"result": "Request will be processed", "took": 0.302, "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"})
}

// check returns the status the API would answer, its message, the field
// errors of a 422, and the request when it is accepted.
func (f *Fake) check(r *http.Request) (int, string, map[string]string, Call) {
	var call Call
	if r.Header.Get("Authorization") != "GenieKey "+f.key {
		return http.StatusUnauthorized, "Key format is not valid!", nil, call
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return http.StatusUnsupportedMediaType, "Unsupported media type", nil, call
	}
	body, _ := io.ReadAll(r.Body)
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		return http.StatusBadRequest, "Could not parse request body", nil, call
	}
	call = Call{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Body: body, Fields: fields}
	var errs map[string]string
	// The alias is one escaped path segment: split before unescaping.
	escaped, action, byAlias := strings.Cut(strings.TrimPrefix(r.URL.EscapedPath(), f.alerts+"/"), "/")
	alias, _ := url.PathUnescape(escaped)
	switch {
	case r.URL.Path == f.alerts && r.Method == http.MethodPost:
		errs = checkCreate(fields)
	case !byAlias || !strings.HasPrefix(r.URL.EscapedPath(), f.alerts+"/"):
		return http.StatusNotFound, "Resource not found", nil, call
	case action == "close" && r.Method == http.MethodPost:
		errs = checkByAlias(alias, r.URL.Query().Get("identifierType"), fields)
	case action == "message" && r.Method == http.MethodPut:
		errs = checkByAlias(alias, r.URL.Query().Get("identifierType"), fields)
		if s, _ := fields["message"].(string); strings.TrimSpace(s) == "" {
			errs["message"] = "Message can not be empty."
		}
	case action == "description" && r.Method == http.MethodPut:
		errs = checkByAlias(alias, r.URL.Query().Get("identifierType"), fields)
		if _, ok := fields["description"].(string); !ok {
			errs["description"] = "Description must be a string"
		}
	case action == "close" || action == "message" || action == "description":
		return http.StatusMethodNotAllowed, "Method not allowed", nil, call
	default:
		return http.StatusNotFound, "Resource not found", nil, call
	}
	if len(errs) > 0 {
		return http.StatusUnprocessableEntity, "Request body is not processable. Please check the errors.", errs, call
	}
	return http.StatusAccepted, "", nil, call
}

// limits are the documented maximum lengths of string fields.
var limits = map[string]int{
	"message": 130, "alias": 512, "description": 15000, "entity": 512,
	"source": 100, "user": 100, "note": 25000, "priority": 2,
}

func checkStrings(fields map[string]any, errs map[string]string) {
	for k, max := range limits {
		if v, ok := fields[k]; ok {
			s, isStr := v.(string)
			if !isStr || utf8.RuneCountInString(s) > max {
				errs[k] = fmt.Sprintf("%s must be a string of at most %d characters", k, max)
			}
		}
	}
}

func checkCreate(fields map[string]any) map[string]string {
	errs := map[string]string{}
	checkStrings(fields, errs)
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
	checkResponders("responders", fields, []string{"team", "user", "escalation", "schedule"}, errs)
	checkResponders("visibleTo", fields, []string{"team", "user"}, errs)
	return errs
}

// checkResponders checks the documented responder shapes: a type,
// and an id, a name, or (users only) a username.
func checkResponders(field string, fields map[string]any, types []string, errs map[string]string) {
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

// checkByAlias checks the requests that name an alert by alias: the
// identifier type, the alias and the body's strings.
func checkByAlias(alias, identifierType string, fields map[string]any) map[string]string {
	errs := map[string]string{}
	checkStrings(fields, errs)
	if identifierType != "alias" {
		errs["identifierType"] = "identifierType must be alias for an alias"
	}
	if alias == "" || utf8.RuneCountInString(alias) > 512 {
		errs["identifier"] = "alias must be 1 to 512 characters"
	}
	return errs
}
