package rootly

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish/rootly/rootlytest"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

const (
	rootlyTestToken  = "rootly-api-token-SECRET"
	rootlyTestSecret = "rootly-source-secret-SECRET"
)

// newTestRootly builds a rootly publisher for the fake in the given mode.
func newTestRootly(t *testing.T, f *rootlytest.Rootly, mode string, o publish.Options, edit ...func(*Config)) *rootly {
	t.Helper()
	s := &Config{Mode: mode, HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	if mode == RootlyModeAlertmanager {
		s.URL, s.Secret = publish.Secret(f.SourceURL()), rootlyTestSecret
	} else {
		s.APIURL, s.APIToken = f.URL(), rootlyTestToken
	}
	for _, e := range edit {
		e(s)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.State == nil {
		o.State = stateOf(publishtest.NewState())
	}
	r, err := newRootly("rootly-test", s, o)
	if err != nil {
		t.Fatalf("newRootly: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// stateOf hands st to every target, as publish.Options.State.
func stateOf(st *publishtest.State) func(string) publish.State {
	return func(string) publish.State { return st }
}

func TestRootlyAlertmanagerModePostsTheV4Payload(t *testing.T) {
	for _, status := range []core.AlertStatus{core.StatusFiring, core.StatusResolved} {
		t.Run(string(status), func(t *testing.T) {
			f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
			r := newTestRootly(t, f, RootlyModeAlertmanager, publish.Options{})
			if err := r.Publish(context.Background(), publishtest.VendorAlert(status)); err != nil {
				t.Fatalf("Publish: want success, got %v", err)
			}
			got := f.Bodies(rootlytest.RootlySourcePath)
			if len(got) != 1 {
				t.Fatalf("alert source received %d payloads, want 1", len(got))
			}
			publishtest.AssertGolden(t, "alertmanager_"+string(status)+".json", got[0])
		})
	}
}

func TestRootlyAlertsAPICreatesThenResolvesByID(t *testing.T) {
	f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	st := publishtest.NewState()
	r := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{State: stateOf(st)},
		func(s *Config) { s.NotificationTargetType, s.NotificationTargetID = "EscalationPolicy", "ep-42" })

	if err := r.Publish(context.Background(), publishtest.VendorAlert(core.StatusFiring)); err != nil {
		t.Fatalf("Publish firing: want success, got %v", err)
	}
	created := f.Bodies(rootlytest.RootlyAlertsPath)
	if len(created) != 1 {
		t.Fatalf("Rootly created %d alerts, want 1", len(created))
	}
	publishtest.AssertGolden(t, "api_firing.json", created[0])
	if got := st.TTLOf(publish.FiringKey(publishtest.VendorAlert(core.StatusFiring))); got != rootlyIDRetention {
		t.Errorf("created alert's id kept for %v, want %v", got, rootlyIDRetention)
	}

	// A new publisher over the same state stands for a restart.
	restarted := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{State: stateOf(st)})
	if err := restarted.Publish(context.Background(), publishtest.VendorAlert(core.StatusResolved)); err != nil {
		t.Fatalf("Publish resolved after a restart: want success, got %v", err)
	}
	resolved := f.Bodies(rootlytest.RootlyResolved)
	if len(resolved) != 1 {
		t.Fatalf("Rootly resolved %d alerts, want 1", len(resolved))
	}
	publishtest.AssertGolden(t, "api_resolve.json", resolved[0])
	if _, ok, _ := st.Get(context.Background(), publish.FiringKey(publishtest.VendorAlert(core.StatusResolved))); ok {
		t.Error("the id is still stored after the resolve succeeded")
	}
}

func TestRootlyAlertsAPIUsesTemplatesAndKeepsLongTextWhole(t *testing.T) {
	f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	r := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{}, func(s *Config) {
		s.Templates = publish.Templates{"summary": `{{ .Alert.Labels.service | toUpper }} is failing`}
	})
	a := publishtest.VendorAlert(core.StatusFiring)
	long := strings.Repeat("stack frame\n", 20000)
	a.Alert.Annotations["description"] = long
	if err := r.Publish(context.Background(), a); err != nil {
		t.Fatalf("Publish: want success, got %v", err)
	}
	body := string(f.Bodies(rootlytest.RootlyAlertsPath)[0])
	if !strings.Contains(body, `"summary":"CHECKOUT is failing"`) {
		t.Errorf("the summary template was not used: %.300s", body)
	}
	// Rootly documents no length limit, so nothing may be cut.
	if !strings.Contains(body, strings.ReplaceAll(long, "\n", `\n`)) {
		t.Error("the long description was not sent whole")
	}
}

func TestRootlyOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		mode      string
		answers   []publishtest.Answer
		edit      func(*Config)
		status    core.AlertStatus
		retryable bool
		code      int
		wait      time.Duration
		wantText  string
		requests  int
	}{
		{
			name: "429 from the API is retryable with Retry-After", mode: RootlyModeAlertsAPI, status: core.StatusFiring,
			answers:   []publishtest.Answer{{Status: 429, RetryAfter: "7", Body: `{"errors":[{"title":"Too many requests"}]}`}},
			retryable: true, code: 429, wait: 7 * time.Second, wantText: "Too many requests", requests: 1,
		},
		{
			name: "429 from the alert source is retryable", mode: RootlyModeAlertmanager, status: core.StatusFiring,
			answers:   []publishtest.Answer{{Status: 429, RetryAfter: "3"}},
			retryable: true, code: 429, wait: 3 * time.Second, requests: 1,
		},
		{
			name: "5xx is retryable", mode: RootlyModeAlertsAPI, status: core.StatusFiring,
			answers:   []publishtest.Answer{{Status: 503, Body: `{"errors":[{"title":"Service Unavailable"}]}`}},
			retryable: true, code: 503, wantText: "Service Unavailable", requests: 1,
		},
		{
			name: "422 is permanent and quotes the JSON:API error", mode: RootlyModeAlertsAPI, status: core.StatusFiring,
			answers: []publishtest.Answer{{Status: 422, Body: `{"errors":[{"title":"is invalid","detail":"notification_target_id - is invalid"}]}`}},
			code:    422, wantText: "notification_target_id - is invalid", requests: 1,
		},
		{
			name: "a wrong API key is a permanent 401", mode: RootlyModeAlertsAPI, status: core.StatusFiring,
			edit: func(s *Config) { s.APIToken = "wrong-SECRET" },
			code: 401, wantText: "Unauthorized", requests: 1,
		},
		{
			name: "a wrong alert source secret is a permanent 401", mode: RootlyModeAlertmanager, status: core.StatusFiring,
			edit: func(s *Config) { s.Secret = "wrong-SECRET" },
			code: 401, wantText: "Unauthorized", requests: 1,
		},
		{
			name: "a resolve with no known id is permanent and sends nothing", mode: RootlyModeAlertsAPI, status: core.StatusResolved,
			wantText: "no Rootly alert id is known for fingerprint 4f3a2b1c0d9e8f7a", requests: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
			for _, a := range tc.answers {
				f.Script(a)
			}
			var logs bytes.Buffer
			edits := []func(*Config){}
			if tc.edit != nil {
				edits = append(edits, tc.edit)
			}
			r := newTestRootly(t, f, tc.mode, publish.Options{Logger: publishtest.BufferLogger(&logs)}, edits...)

			err := r.Publish(context.Background(), publishtest.VendorAlert(tc.status))
			if err == nil {
				t.Fatal("Publish: want an error, got success")
			}
			if got := core.IsRetryable(err); got != tc.retryable {
				t.Errorf("retryable = %v, want %v (error: %v)", got, tc.retryable, err)
			}
			if got := core.StatusCode(err); got != tc.code {
				t.Errorf("status code = %d, want %d", got, tc.code)
			}
			if got := core.RetryAfter(err); got != tc.wait {
				t.Errorf("RetryAfter = %v, want %v", got, tc.wait)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			if got := f.Requests(); got != tc.requests {
				t.Errorf("Rootly received %d requests, want %d", got, tc.requests)
			}
			for _, where := range []string{err.Error(), logs.String()} {
				if strings.Contains(where, "SECRET") {
					t.Errorf("a secret leaked: %q", where)
				}
			}
			if len(tc.answers) > 0 && tc.retryable {
				if err := r.Publish(context.Background(), publishtest.VendorAlert(tc.status)); err != nil {
					t.Errorf("second Publish after the forced answer: want success, got %v", err)
				}
			}
		})
	}
}

func TestRootlyNetworkErrorsHideTheURL(t *testing.T) {
	f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	var logs bytes.Buffer
	r := newTestRootly(t, f, RootlyModeAlertmanager, publish.Options{Logger: publishtest.BufferLogger(&logs)}, func(s *Config) {
		s.URL = publish.Secret(f.URL() + "/notify/EscalationPolicy/SECRET-ep")
	})
	f.Close()
	err := r.Publish(context.Background(), publishtest.VendorAlert(core.StatusFiring))
	if err == nil || !core.IsRetryable(err) {
		t.Fatalf("Publish to a closed server: want a retryable error, got %v", err)
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(logs.String(), "SECRET") {
		t.Errorf("the URL leaked: %v / %s", err, logs.String())
	}
}

func TestRootlyRenderSetsAuthAndMediaTypes(t *testing.T) {
	f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	tests := []struct {
		mode, path, contentType, auth string
	}{
		{RootlyModeAlertmanager, rootlytest.RootlySourcePath, "application/json", "Bearer " + rootlyTestSecret},
		{RootlyModeAlertsAPI, "/v1/alerts", jsonAPIType, "Bearer " + rootlyTestToken},
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			reqs, err := newTestRootly(t, f, tc.mode, publish.Options{}).Render(context.Background(), publishtest.VendorAlert(core.StatusFiring))
			if err != nil || len(reqs) != 1 {
				t.Fatalf("Render: want one request, got %d and %v", len(reqs), err)
			}
			req := reqs[0]
			if req.Method != "POST" || req.URL.Path != tc.path {
				t.Errorf("request = %s %s, want POST %s", req.Method, req.URL.Path, tc.path)
			}
			if got := req.Header.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tc.contentType)
			}
			if got := req.Header.Get("Authorization"); got != tc.auth {
				t.Errorf("Authorization = %q, want %q", got, tc.auth)
			}
			if f.Requests() != 0 {
				t.Error("Render sent a request")
			}
		})
	}
}

// TestRootlyAlertsAPIKeepsTheIDOfALargeAlert proves that a firing with
// large annotations still gets its Rootly id kept, so its resolve is
// sent: Rootly's answer echoes the whole alert, larger than Send's
// default bound.
func TestRootlyAlertsAPIKeepsTheIDOfALargeAlert(t *testing.T) {
	tests := []struct {
		name, annotation string
		size             int
	}{
		{name: "a long description, sent once", annotation: "description", size: 640 << 10},
		{name: "a long annotation besides the description", annotation: "stacktrace", size: 1100 << 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
			r := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{})
			const line = "a stack frame of a failing checkout request\n"
			long := strings.Repeat(line, tc.size/len(line))
			alert := func(status core.AlertStatus) *core.EnrichedAlert {
				a := publishtest.VendorAlert(status)
				a.Alert.Annotations[tc.annotation] = long
				return a
			}
			if err := r.Publish(context.Background(), alert(core.StatusFiring)); err != nil {
				t.Fatalf("Publish firing: want success, got %v", err)
			}
			sent := string(f.Bodies(rootlytest.RootlyAlertsPath)[0])
			if n := strings.Count(sent, strings.ReplaceAll(long, "\n", `\n`)); n != 1 {
				t.Errorf("the %s was sent %d times, want once", tc.annotation, n)
			}
			if err := r.Publish(context.Background(), alert(core.StatusResolved)); err != nil {
				t.Fatalf("Publish resolved: want success, got %v", err)
			}
			if got := len(f.Bodies(rootlytest.RootlyResolved)); got != 1 {
				t.Errorf("Rootly resolved %d alerts, want 1", got)
			}
		})
	}
}

// TestRootlyAlertsAPIFailsACreateWhoseIDCannotBeKept proves that a firing
// is never reported delivered when the id its resolve needs is lost.
func TestRootlyAlertsAPIFailsACreateWhoseIDCannotBeKept(t *testing.T) {
	tests := []struct {
		name      string
		answer    *publishtest.Answer
		failStore bool
		wantText  string
	}{
		{
			name:     "an answer without an id",
			answer:   &publishtest.Answer{Status: 201, Body: `{"data":{"type":"alerts","attributes":{}}}`},
			wantText: "without an alert id",
		},
		{
			name:     "an answer that is not JSON",
			answer:   &publishtest.Answer{Status: 201, Body: `<html>created</html>`},
			wantText: "without an alert id",
		},
		{
			// Far over the bound for this small alert.
			name: "an answer too large to read whole",
			answer: &publishtest.Answer{Status: 201, Body: `{"data":{"id":"big","type":"alerts","attributes":{"description":"` +
				strings.Repeat("x", 4<<20) + `"}}}`},
			wantText: "answer too large",
		},
		{
			name:      "an id that cannot be stored",
			failStore: true,
			wantText:  "a1b2c3d4-0000-4000-8000-000000000001",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
			if tc.answer != nil {
				f.Script(*tc.answer)
			}
			var logs bytes.Buffer
			st := publishtest.NewState()
			if tc.failStore {
				st.Err = errors.New("disk full")
			}
			r := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{Logger: publishtest.BufferLogger(&logs), State: stateOf(st)})
			err := r.Publish(context.Background(), publishtest.VendorAlert(core.StatusFiring))
			if err == nil {
				t.Fatal("Publish: want an error, the resolve of this alert could never be sent; got success")
			}
			if core.IsRetryable(err) {
				t.Errorf("want a permanent failure, retrying would create the alert again; got %v", err)
			}
			for _, want := range []string{tc.wantText, "resolve it in Rootly"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error()+logs.String(), "SECRET") {
				t.Errorf("a secret leaked: %v / %s", err, logs.String())
			}
		})
	}
}

func TestRootlyRenderOfAResolveWithoutIDShowsTheRequestToBe(t *testing.T) {
	f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	r := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{})
	_, err := r.Render(context.Background(), publishtest.VendorAlert(core.StatusResolved))
	later, ok := errors.AsType[*publish.NeedsEarlierAnswer](err)
	if !ok || core.IsRetryable(err) {
		t.Fatalf("Render of a resolve with no known id: want a permanent NeedsEarlierAnswer, got %v", err)
	}
	if len(later.Requests) != 1 {
		t.Fatalf("want the one resolve request it would send, got %d", len(later.Requests))
	}
	req := later.Requests[0]
	if want := "/v1/alerts/" + later.Placeholder + "/resolve"; req.Method != http.MethodPost || req.URL.Path != want {
		t.Errorf("request = %s %s, want POST %s", req.Method, req.URL.Path, want)
	}
	if got := req.Header.Get("Authorization"); got != "Bearer "+rootlyTestToken {
		t.Errorf("Authorization = %q: the request shown is not the one that would be sent", got)
	}
	if f.Requests() != 0 {
		t.Error("Render sent a request")
	}
}
