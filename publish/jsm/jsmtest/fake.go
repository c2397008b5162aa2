// Package jsmtest is a fake of Jira Service Management Operations for
// tests: its integration events API and the part of its REST API that
// update_alerts uses, on one server, sharing the alerts they act on.
package jsmtest

import (
	"encoding/base64"
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

	"github.com/am-fanout/am-fanout/publish/genie/genietest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// Call is a request the JSM fake accepted.
type Call = genietest.Call

// RESTUser is the account the REST API side accepts: basic auth with
// Email and Token, under CloudID. A zero RESTUser accepts no one.
type RESTUser struct {
	CloudID, Email, Token string
}

// Alert is an alert the fake holds.
type Alert struct {
	ID, Alias, Message, Description, Status string
	Count                                   int
}

// JSM serves the integration events API
// (https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v1/api-group-integration-events/)
// at /jsm/ops/integration/v2/alerts, as the Alert API fake does, and the
// REST API's Get alert by alias, Update alert message and Update alert
// description
// (https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v2/api-group-alerts/)
// at /jsm/ops/api/{cloudId}/v1/alerts: basic auth (401 otherwise), the
// cloud id (404 for another), JSON bodies (415), message 1 to 130 and
// description at most 15000 characters (422), 404 for an unknown alias
// or id, 202 on an update. A create opens an alert for an alias with no
// open one, else counts a repeat and keeps the texts; a close closes it;
// the API processes both at once here, not asynchronously.
type JSM struct {
	*genietest.Fake // the integration side: its calls, rejects and script
	// REST is the REST API side's calls, rejects and script.
	REST genietest.Log
	srv  *httptest.Server
	user RESTUser

	mu     sync.Mutex
	alerts []*Alert
}

// NewJSM starts a JSM fake that accepts the integration's API key key and
// no REST API account; it stops when the test ends.
func NewJSM(t testing.TB, key string) *JSM {
	return NewJSMWithREST(t, key, RESTUser{})
}

// NewJSMWithREST starts a JSM fake that accepts key and the REST API
// account user.
func NewJSMWithREST(t testing.TB, key string, user RESTUser) *JSM {
	j := &JSM{user: user}
	j.Fake = genietest.Handle(key, "/jsm/ops/integration/v2/alerts", j.integrationAccepted)
	j.srv = publishtest.Serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/jsm/ops/api/") {
			j.serveREST(w, r)
			return
		}
		j.Fake.ServeHTTP(w, r)
	}))
	return j
}

// URL is the fake's API base, as a target's url and rest_api.url take it.
func (j *JSM) URL() string { return j.srv.URL }

// Close stops the fake, as if the API were unreachable.
func (j *JSM) Close() { j.srv.Close() }

// Alerts are copies of the alerts the fake holds, oldest first.
func (j *JSM) Alerts() []Alert {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]Alert, len(j.alerts))
	for i, a := range j.alerts {
		out[i] = *a
	}
	return out
}

// integrationAccepted applies an accepted create or close to the alerts.
func (j *JSM) integrationAccepted(c Call) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if c.Method == http.MethodPost && !strings.Contains(strings.TrimPrefix(c.Path, "/jsm/ops/integration/v2/alerts"), "/") {
		alias, _ := c.Fields["alias"].(string)
		if a := j.open(alias); a != nil {
			a.Count++
			return
		}
		msg, _ := c.Fields["message"].(string)
		desc, _ := c.Fields["description"].(string)
		j.alerts = append(j.alerts, &Alert{ID: fmt.Sprintf("9b251e07-73c9-4907-9996-%012d", len(j.alerts)+1),
			Alias: alias, Message: msg, Description: desc, Status: "open", Count: 1})
		return
	}
	if escaped, ok := strings.CutSuffix(strings.TrimPrefix(c.Path, "/jsm/ops/integration/v2/alerts/"), "/close"); ok {
		alias, _ := url.PathUnescape(escaped)
		if a := j.open(alias); a != nil {
			a.Status = "closed"
		}
	}
}

// open is the open alert with alias, nil if none; under mu.
func (j *JSM) open(alias string) *Alert {
	for _, a := range j.alerts {
		if a.Alias == alias && a.Status == "open" {
			return a
		}
	}
	return nil
}

func (j *JSM) serveREST(w http.ResponseWriter, r *http.Request) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if a, ok := j.REST.Next(); ok {
		a.Write(w, "application/json")
		return
	}
	status, answer, call := j.checkREST(r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status/100 != 2 {
		j.REST.Reject(fmt.Sprint(status, " ", answer))
	} else {
		j.REST.Accept(call)
	}
	_ = json.NewEncoder(w).Encode(answer)
}

// checkREST returns the status the REST API would answer, its body and
// the request; under mu.
func (j *JSM) checkREST(r *http.Request) (int, any, Call) {
	body, _ := io.ReadAll(r.Body)
	call := Call{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Body: body}
	refuse := func(status int, msg string) (int, any, Call) {
		return status, map[string]any{"message": msg}, call
	}
	if j.user.Email == "" || r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(j.user.Email+":"+j.user.Token)) {
		return refuse(http.StatusUnauthorized, "Client must be authenticated to access this resource.")
	}
	rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/jsm/ops/api/"+url.PathEscape(j.user.CloudID)+"/v1/alerts/")
	if !ok {
		return refuse(http.StatusNotFound, "Not Found")
	}
	if rest == "alias" {
		if r.Method != http.MethodGet {
			return refuse(http.StatusMethodNotAllowed, "Method not allowed")
		}
		alias := r.URL.Query().Get("alias")
		a := j.open(alias)
		for i := len(j.alerts) - 1; a == nil && i >= 0; i-- {
			if j.alerts[i].Alias == alias {
				a = j.alerts[i]
			}
		}
		if a == nil {
			return refuse(http.StatusNotFound, "Alert not found")
		}
		return http.StatusOK, map[string]any{"id": a.ID, "alias": a.Alias, "message": a.Message,
			"description": a.Description, "status": a.Status, "count": a.Count}, call
	}
	escapedID, field, _ := strings.Cut(rest, "/")
	id, _ := url.PathUnescape(escapedID)
	if field != "message" && field != "description" {
		return refuse(http.StatusNotFound, "Not Found")
	}
	if r.Method != http.MethodPatch {
		return refuse(http.StatusMethodNotAllowed, "Method not allowed")
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		return refuse(http.StatusUnsupportedMediaType, "Unsupported media type")
	}
	var fields map[string]any
	if err := json.Unmarshal(body, &fields); err != nil {
		return refuse(http.StatusBadRequest, "Could not parse request body")
	}
	call.Fields = fields
	value, isString := fields[field].(string)
	max := map[string]int{"message": 130, "description": 15000}[field]
	switch {
	case !isString || utf8.RuneCountInString(value) > max:
		return refuse(http.StatusUnprocessableEntity, fmt.Sprintf("%s must be a string of at most %d characters", field, max))
	case field == "message" && strings.TrimSpace(value) == "":
		return refuse(http.StatusUnprocessableEntity, "Message can not be empty.")
	}
	idx := slices.IndexFunc(j.alerts, func(a *Alert) bool { return a.ID == id })
	if idx < 0 {
		return refuse(http.StatusNotFound, "Alert not found")
	}
	if field == "message" {
		j.alerts[idx].Message = value
	} else {
		j.alerts[idx].Description = value
	}
	return http.StatusAccepted, map[string]any{"result": "Request will be processed", "took": 0.01,
		"requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}, call
}
