package rootlytest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

const (
	// RootlySourcePath is the path of Rootly's Alertmanager alert source
	// URL.
	RootlySourcePath = "/webhooks/incoming/alertmanager_webhooks"
	// RootlyAlertsPath is the REST API's Create Alert path.
	RootlyAlertsPath = "/v1/alerts"
	// RootlyResolved is the key under which Bodies keeps resolve requests,
	// whatever the alert id in their path.
	RootlyResolved = "resolve"

	// jsonAPIType is the JSON:API media type Rootly's REST API requires.
	jsonAPIType = "application/vnd.api+json"
)

// rootlySources are the values the new_alert schema enumerates for source
// (an excerpt; am-fanout sends "alertmanager").
var rootlySources = []string{"alertmanager", "api", "generic_webhook", "grafana", "manual"}

// Rootly serves Rootly's Prometheus Alertmanager alert source (which
// takes Alertmanager's v4 payload: a groupKey, and a status that is
// firing while any of its alerts fires) and the
// Alerts endpoints of its REST API v1, enforcing what Rootly documents:
// bearer auth, the JSON:API media type, the new_alert schema's required
// attributes and source enum, resolve by alert id; errors are JSON:API
// {"errors":[{"title","detail"}]}. Create and resolve answer with the
// whole alert, every attribute sent echoed back with the ones Rootly adds
// (https://docs.rootly.com/api-reference/alerts/creates-an-alert), so an
// answer is larger than its request. Scripted answers come first.
type Rootly struct {
	srv          *httptest.Server
	apiToken     string
	sourceSecret string

	mu       sync.Mutex
	script   publishtest.Script
	requests int
	// bodies are the bodies of the requests accepted, by path.
	bodies map[string][][]byte
	// alerts holds each created alert's attributes by id.
	alerts map[string]map[string]any
}

// NewRootly starts a Rootly fake whose REST API accepts apiToken and whose
// alert source accepts sourceSecret; it stops when the test ends.
func NewRootly(t testing.TB, apiToken, sourceSecret string) *Rootly {
	f := &Rootly{apiToken: apiToken, sourceSecret: sourceSecret, bodies: map[string][][]byte{}, alerts: map[string]map[string]any{}}
	f.srv = publishtest.Serve(t, f)
	return f
}

// URL is the fake's API base, as a rootly target's api_url takes it.
func (f *Rootly) URL() string { return f.srv.URL }

// SourceURL is the fake's Alertmanager alert source URL.
func (f *Rootly) SourceURL() string { return f.srv.URL + RootlySourcePath }

// Close stops the fake, as if Rootly were unreachable.
func (f *Rootly) Close() { f.srv.Close() }

// Script queues answers served, in order, before any check; their
// Content-Type is JSON:API's unless they name another.
func (f *Rootly) Script(a ...publishtest.Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, a...)
}

// Bodies are the accepted bodies sent to path (RootlySourcePath,
// RootlyAlertsPath or RootlyResolved), in order.
func (f *Rootly) Bodies(path string) [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.bodies[path])
}

// Requests counts every request the fake answered, scripted ones included.
func (f *Rootly) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// ServeHTTP answers as Rootly does.
func (f *Rootly) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if a, ok := f.script.Next(); ok {
		a.Write(w, jsonAPIType)
		return
	}
	switch {
	case r.URL.Path == RootlySourcePath:
		f.alertSource(w, r, body)
	case strings.HasPrefix(r.URL.Path, RootlyAlertsPath):
		f.alertsAPI(w, r, body)
	default:
		jsonAPIError(w, http.StatusNotFound, "Not found", "no route for "+r.URL.Path)
	}
}

func jsonAPIError(w http.ResponseWriter, code int, title, detail string) {
	w.Header().Set("Content-Type", jsonAPIType)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"title": title, "detail": detail}}})
}

// alertSource accepts Alertmanager's webhook payload, version 4.
func (f *Rootly) alertSource(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost {
		jsonAPIError(w, http.StatusMethodNotAllowed, "Method not allowed", r.Method)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.sourceSecret {
		jsonAPIError(w, http.StatusUnauthorized, "Unauthorized", "invalid bearer token")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		jsonAPIError(w, http.StatusUnsupportedMediaType, "Unsupported media type", mt)
		return
	}
	var msg struct {
		Version  string `json:"version"`
		GroupKey string `json:"groupKey"`
		Status   string `json:"status"`
		Alerts   []struct {
			Status      string            `json:"status"`
			Labels      map[string]string `json:"labels"`
			Fingerprint string            `json:"fingerprint"`
			StartsAt    string            `json:"startsAt"`
		} `json:"alerts"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		jsonAPIError(w, http.StatusBadRequest, "Bad request", err.Error())
		return
	}
	if msg.Version != "4" || len(msg.Alerts) == 0 {
		jsonAPIError(w, http.StatusUnprocessableEntity, "Invalid payload", "want version 4 with alerts")
		return
	}
	if msg.GroupKey == "" {
		jsonAPIError(w, http.StatusUnprocessableEntity, "Invalid payload", "groupKey is required")
		return
	}
	status := "resolved" // Alertmanager's: firing while any alert fires
	for _, a := range msg.Alerts {
		if (a.Status != "firing" && a.Status != "resolved") || a.Labels["alertname"] == "" || a.Fingerprint == "" || a.StartsAt == "" {
			jsonAPIError(w, http.StatusUnprocessableEntity, "Invalid alert", "status, labels.alertname, fingerprint and startsAt are required")
			return
		}
		if a.Status == "firing" {
			status = "firing"
		}
	}
	if msg.Status != status {
		jsonAPIError(w, http.StatusUnprocessableEntity, "Invalid payload", "status "+msg.Status+" does not match the alerts' ("+status+")")
		return
	}
	f.bodies[r.URL.Path] = append(f.bodies[r.URL.Path], body)
	w.WriteHeader(http.StatusOK)
}

// alertsAPI serves POST /v1/alerts and POST /v1/alerts/{id}/resolve.
func (f *Rootly) alertsAPI(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Header.Get("Authorization") != "Bearer "+f.apiToken {
		jsonAPIError(w, http.StatusUnauthorized, "Unauthorized", "invalid API key")
		return
	}
	if r.Method != http.MethodPost {
		jsonAPIError(w, http.StatusMethodNotAllowed, "Method not allowed", r.Method)
		return
	}
	if r.Header.Get("Content-Type") != jsonAPIType {
		jsonAPIError(w, http.StatusUnsupportedMediaType, "Unsupported media type", "JSON:API requires "+jsonAPIType)
		return
	}
	var doc struct {
		Data struct {
			Type       string         `json:"type"`
			Attributes map[string]any `json:"attributes"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Data.Type != "alerts" {
		jsonAPIError(w, http.StatusUnprocessableEntity, "Invalid request", `want {"data":{"type":"alerts","attributes":{...}}}`)
		return
	}
	id, resolve := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, RootlyAlertsPath+"/"), "/resolve")
	switch {
	case r.URL.Path == RootlyAlertsPath:
		f.create(w, doc.Data.Attributes, body)
	case resolve && f.alerts[id] != nil:
		alert := f.alerts[id]
		alert["status"] = "resolved"
		alert["ended_at"] = time.Now().UTC().Format(time.RFC3339)
		if msg, ok := doc.Data.Attributes["resolution_message"]; ok {
			alert["resolution_message"] = msg
		}
		f.bodies[RootlyResolved] = append(f.bodies[RootlyResolved], body)
		writeJSONAPIAlert(w, http.StatusOK, id, alert)
	case resolve:
		jsonAPIError(w, http.StatusNotFound, "Record not found", "no alert "+id)
	default:
		jsonAPIError(w, http.StatusNotFound, "Not found", r.URL.Path)
	}
}

func (f *Rootly) create(w http.ResponseWriter, attrs map[string]any, body []byte) {
	summary, _ := attrs["summary"].(string)
	source, _ := attrs["source"].(string)
	switch {
	case summary == "":
		jsonAPIError(w, http.StatusUnprocessableEntity, "can't be blank", "summary - can't be blank")
		return
	case !slices.Contains(rootlySources, source):
		jsonAPIError(w, http.StatusUnprocessableEntity, "is not included in the list", "source - is not included in the list")
		return
	}
	if labels, ok := attrs["labels"].([]any); ok {
		for _, l := range labels {
			kv, _ := l.(map[string]any)
			if _, ok := kv["key"].(string); !ok {
				jsonAPIError(w, http.StatusUnprocessableEntity, "Invalid label", "labels need a string key and value")
				return
			}
			if _, ok := kv["value"].(string); !ok {
				jsonAPIError(w, http.StatusUnprocessableEntity, "Invalid label", "labels need a string key and value")
				return
			}
		}
	}
	n := len(f.alerts) + 1
	id := fmt.Sprintf("a1b2c3d4-0000-4000-8000-%012d", n)
	f.alerts[id] = createdAlert(attrs, n)
	f.bodies[RootlyAlertsPath] = append(f.bodies[RootlyAlertsPath], body)
	writeJSONAPIAlert(w, http.StatusCreated, id, f.alerts[id])
}

// createdAlert is the alert Rootly keeps: what was sent, with the
// attributes Rootly sets itself. An alert with a notification target
// pages at once ("triggered"), one without stays "open"
// (https://docs.rootly.com/alerts/alert-statuses).
func createdAlert(attrs map[string]any, n int) map[string]any {
	alert := maps.Clone(attrs)
	now := time.Now().UTC().Format(time.RFC3339)
	alert["short_id"] = fmt.Sprintf("ALT%06d", n)
	alert["status"] = "open"
	if attrs["notification_target_id"] != nil {
		alert["status"] = "triggered"
	}
	for _, k := range []string{"services", "groups", "environments", "responders"} {
		alert[k] = []any{}
	}
	alert["created_at"], alert["updated_at"] = now, now
	return alert
}

func writeJSONAPIAlert(w http.ResponseWriter, code int, id string, attrs map[string]any) {
	w.Header().Set("Content-Type", jsonAPIType)
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
		"id": id, "type": "alerts", "attributes": attrs,
	}})
}
