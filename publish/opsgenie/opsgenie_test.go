package opsgenie

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish/opsgenie/opsgenietest"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/genie"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

const testGenieKey = "eb243592-faa2-4ba2-a551-1afdf565c889"

// newTestOpsgenie builds a publisher for the fake with key.
func newTestOpsgenie(t *testing.T, url, key string, edit func(*Config), o publish.Options) *genie.Publisher {
	t.Helper()
	s := &Config{Fields: genie.Fields{APIKey: publish.Secret(key), URL: url, HTTPConfig: commoncfg.DefaultHTTPClientConfig}}
	if edit != nil {
		edit(s)
	}
	g, err := newOpsgenie("og", s, o)
	if err != nil {
		t.Fatalf("newOpsgenie: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

func TestOpsgenieRequestsMatchGoldenFiles(t *testing.T) {
	tests := []struct {
		name      string
		golden    string
		alert     func() *core.EnrichedAlert
		edit      func(*Config)
		wantPath  string
		wantQuery string
	}{
		{name: "firing alert creates with alias, tags, details and P1", golden: "firing.json", alert: publishtest.IncidentAlert, wantPath: "/v2/alerts"},
		{
			name: "resolved alert closes by alias", golden: "resolved.json", alert: publishtest.ResolvedIncidentAlert,
			wantPath: "/v2/alerts/a1b2c3d4e5f60718/close", wantQuery: "identifierType=alias",
		},
		{
			name: "responders, static tags, entity, templates and priority map apply", golden: "custom.json",
			alert: func() *core.EnrichedAlert {
				a := publishtest.IncidentAlert()
				a.Classification.Severity = core.SeverityWarning
				return a
			},
			edit: func(s *Config) {
				s.Responders = []genie.Responder{{Type: "team", Name: "checkout"}, {Type: "user", Username: "oncall@example.com"}, {Type: "schedule", ID: "aee8a0de"}}
				s.VisibleTo = []genie.Responder{{Type: "team", Name: "sre"}}
				s.Tags = []string{"prod", "am-fanout"}
				s.Entity = "checkout"
				s.PriorityMap = map[string]string{"warning": "P2"}
				s.Templates = publish.Templates{
					"message":     `{{ .Alert.Labels.service }} is slow`,
					"description": `{{ .Alert.Annotations.description }} Runbook: {{ .Link "runbook" }}`,
				}
			},
			wantPath: "/v2/alerts",
		},
		{
			name: "priority set by an enrichment rule wins", golden: "rule-priority.json",
			alert: func() *core.EnrichedAlert {
				a := publishtest.IncidentAlert()
				a.Classification.Priority = "P2"
				return a
			},
			wantPath: "/v2/alerts",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := opsgenietest.NewOpsgenie(t, testGenieKey)
			g := newTestOpsgenie(t, fake.URL(), testGenieKey, tc.edit, publish.Options{})
			if err := g.Publish(context.Background(), tc.alert()); err != nil {
				t.Fatalf("Publish: %v (fake rejected: %v)", err, fake.Rejects())
			}
			reqs := fake.Calls()
			if len(reqs) != 1 {
				t.Fatalf("fake accepted %d requests, want 1", len(reqs))
			}
			if reqs[0].Path != tc.wantPath || reqs[0].Query != tc.wantQuery {
				t.Errorf("request to %s?%s, want %s?%s", reqs[0].Path, reqs[0].Query, tc.wantPath, tc.wantQuery)
			}
			publishtest.AssertGolden(t, tc.golden, reqs[0].Body)
		})
	}
}

func TestOpsgenieAliasSurvivesRestartAndIsEscaped(t *testing.T) {
	fake := opsgenietest.NewOpsgenie(t, testGenieKey)
	a := publishtest.IncidentAlert()
	a.Alert.Fingerprint = "fp/with space"
	create := newTestOpsgenie(t, fake.URL(), testGenieKey, nil, publish.Options{})
	if err := create.Publish(context.Background(), a); err != nil {
		t.Fatalf("create: %v", err)
	}
	a.Alert.Status = core.StatusResolved
	closer := newTestOpsgenie(t, fake.URL()+"/", testGenieKey, nil, publish.Options{}) // as after a restart
	if err := closer.Publish(context.Background(), a); err != nil {
		t.Fatalf("close: %v (fake rejected: %v)", err, fake.Rejects())
	}
	reqs := fake.Calls()
	if alias := reqs[0].Fields["alias"]; alias != "fp/with space" {
		t.Errorf("alias = %v, want the fingerprint", alias)
	}
	if reqs[1].Path != "/v2/alerts/fp%2Fwith%20space/close" {
		t.Errorf("close path = %s, want the alias escaped as one path segment", reqs[1].Path)
	}
}

func TestOpsgenieLimitsFieldsVisibly(t *testing.T) {
	fake := opsgenietest.NewOpsgenie(t, testGenieKey)
	var logs bytes.Buffer
	g := newTestOpsgenie(t, fake.URL(), testGenieKey, func(s *Config) { s.Tags = []string{"prod"} },
		publish.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	a := publishtest.IncidentAlert()
	a.Alert.Annotations["summary"] = strings.Repeat("s", 500)
	a.Alert.Annotations["description"] = strings.Repeat("d", 20000)
	a.Alert.Annotations["big"] = strings.Repeat("b", 5000)
	a.Alert.Labels["long"] = strings.Repeat("l", 100)
	for i := range 30 {
		a.Alert.Labels[fmt.Sprintf("l%02d", i)] = "v"
	}
	if err := g.Publish(context.Background(), a); err != nil {
		t.Fatalf("Publish: %v (fake rejected: %v)", err, fake.Rejects())
	}
	f := fake.Calls()[0].Fields
	msg, desc := f["message"].(string), f["description"].(string)
	if utf8.RuneCountInString(msg) != 130 || !strings.HasSuffix(msg, "…") {
		t.Errorf("message has %d characters, want 130 ending with …", utf8.RuneCountInString(msg))
	}
	if utf8.RuneCountInString(desc) != 15000 || !strings.HasSuffix(desc, "…") {
		t.Errorf("description has %d characters, want 15000 ending with …", utf8.RuneCountInString(desc))
	}
	tags := f["tags"].([]any)
	if len(tags) != 20 || tags[0] != "prod" || tags[1] != "alertname:HighLatency" || tags[19] != "+19 more" {
		t.Errorf("tags = %v, want prod, the first labels by name, and +19 more last", tags)
	}
	details := f["details"].(map[string]any)
	total := 0
	for k, v := range details {
		total += utf8.RuneCountInString(k) + utf8.RuneCountInString(v.(string))
	}
	if total > 8000 || total < 7900 {
		t.Errorf("details total %d characters, want just under 8000", total)
	}
	// Cutting description alone to the level of big frees too little, so
	// both are cut to one common length; summary, smaller, is untouched.
	d, b := details["description"].(string), details["big"].(string)
	if details["am_fanout_trimmed"] != "big,description" || len(d) != len(b) || !strings.HasSuffix(d, "…") || !strings.HasSuffix(b, "…") {
		t.Errorf("want big and description cut to one length and named; got trimmed=%v, lengths %d and %d", details["am_fanout_trimmed"], len(d), len(b))
	}
	if details["summary"] != strings.Repeat("s", 500) {
		t.Errorf("summary detail was cut, want it intact")
	}
	if !strings.Contains(logs.String(), "truncated") || strings.Contains(logs.String(), testGenieKey) {
		t.Errorf("logs = %q, want truncation warnings without the key", logs.String())
	}
}

func TestOpsgenieClassifiesAnswers(t *testing.T) {
	unprocessable := `{"message":"Request body is not processable. Please check the errors.","errors":{"message":"Message can not be empty."},"took":0.001,"requestId":"x"}`
	tests := []struct {
		name           string
		key            string
		script         []publishtest.Answer
		wantStatus     int
		wantRetryable  bool
		wantRetryAfter time.Duration
	}{
		{name: "429 is retryable with Retry-After", key: testGenieKey, script: []publishtest.Answer{{Status: 429, RetryAfter: "3", Body: `{"message":"Too many requests","took":0.0,"requestId":"x"}`}}, wantStatus: 429, wantRetryable: true, wantRetryAfter: 3 * time.Second},
		{name: "503 is retryable", key: testGenieKey, script: []publishtest.Answer{{Status: 503}}, wantStatus: 503, wantRetryable: true},
		{name: "422 is permanent", key: testGenieKey, script: []publishtest.Answer{{Status: 422, Body: unprocessable}}, wantStatus: 422},
		{name: "a wrong key is a permanent 401", key: "00000000-0000-0000-0000-000000000000", wantStatus: 401},
		{name: "403 is permanent", key: testGenieKey, script: []publishtest.Answer{{Status: 403, Body: `{"message":"You are not authorized","took":0.0,"requestId":"x"}`}}, wantStatus: 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			fake := opsgenietest.NewOpsgenie(t, testGenieKey)
			fake.Script(tc.script...)
			g := newTestOpsgenie(t, fake.URL(), tc.key, nil, publish.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			err := g.Publish(context.Background(), publishtest.IncidentAlert())
			if err == nil {
				t.Fatal("Publish: want an error, got none")
			}
			if core.StatusCode(err) != tc.wantStatus || core.IsRetryable(err) != tc.wantRetryable || core.RetryAfter(err) != tc.wantRetryAfter {
				t.Errorf("error %v: status %d retryable %v retry-after %v, want %d %v %v", err,
					core.StatusCode(err), core.IsRetryable(err), core.RetryAfter(err), tc.wantStatus, tc.wantRetryable, tc.wantRetryAfter)
			}
			publishtest.AssertSecretHidden(t, tc.key, err, &logs)
			if tc.wantRetryable {
				if err := g.Publish(context.Background(), publishtest.IncidentAlert()); err != nil {
					t.Errorf("second Publish after %d: %v, want success", tc.wantStatus, err)
				}
			}
		})
	}
}

func TestOpsgenieRenderSetsAuthAndSendsNothing(t *testing.T) {
	fake := opsgenietest.NewOpsgenie(t, testGenieKey)
	g := newTestOpsgenie(t, fake.URL(), testGenieKey, nil, publish.Options{})
	for _, a := range []*core.EnrichedAlert{publishtest.IncidentAlert(), publishtest.ResolvedIncidentAlert()} {
		reqs, err := g.Render(context.Background(), a)
		if err != nil || len(reqs) != 1 {
			t.Fatalf("Render %s: %d requests, %v; want 1, nil", a.Alert.Status, len(reqs), err)
		}
		r := reqs[0]
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "GenieKey "+testGenieKey || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("Render %s: %s with auth %q and type %q, want POST, GenieKey and JSON", a.Alert.Status, r.Method, r.Header.Get("Authorization"), r.Header.Get("Content-Type"))
		}
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("Render sent %d requests, want none", n)
	}
}

// With update_alerts, a firing alert whose annotations changed updates
// the open alert's message and description by alias after the create
// (which for an open alias only counts a repeat); without it, and for a
// resolution, nothing but the create or close is sent.
func TestOpsgenieUpdateAlerts(t *testing.T) {
	changed := func() *core.EnrichedAlert {
		a := publishtest.IncidentAlert()
		a.Alert.Annotations["summary"] = "p99 latency above 5s"
		a.Alert.Annotations["description"] = "Now above 5s for 10 minutes."
		return a
	}
	tests := []struct {
		name   string
		update bool
		alert  func() *core.EnrichedAlert
		want   []string // method and path?query of each request after the first create
	}{
		{name: "changed annotations update message and description by alias", update: true, alert: changed, want: []string{
			"POST /v2/alerts?",
			"PUT /v2/alerts/a1b2c3d4e5f60718/message?identifierType=alias",
			"PUT /v2/alerts/a1b2c3d4e5f60718/description?identifierType=alias",
		}},
		{name: "off by default: the create alone", alert: changed, want: []string{"POST /v2/alerts?"}},
		{name: "a resolution only closes", update: true, alert: publishtest.ResolvedIncidentAlert, want: []string{
			"POST /v2/alerts/a1b2c3d4e5f60718/close?identifierType=alias",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := opsgenietest.NewOpsgenie(t, testGenieKey)
			g := newTestOpsgenie(t, fake.URL(), testGenieKey, func(c *Config) { c.UpdateAlerts = tc.update }, publish.Options{})
			first := publishtest.IncidentAlert()
			if err := g.Publish(context.Background(), first); err != nil {
				t.Fatalf("first Publish: %v (fake rejected: %v)", err, fake.Rejects())
			}
			before := len(fake.Calls())
			a := tc.alert()
			if err := g.Publish(context.Background(), a); err != nil {
				t.Fatalf("second Publish: %v (fake rejected: %v)", err, fake.Rejects())
			}
			calls := fake.Calls()[before:]
			var got []string
			for _, c := range calls {
				got = append(got, c.Method+" "+c.Path+"?"+c.Query)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if !tc.update || a.Alert.Status == core.StatusResolved {
				return
			}
			create := calls[0].Fields
			if calls[1].Fields["message"] != create["message"] || !strings.Contains(calls[1].Fields["message"].(string), "above 5s") {
				t.Errorf("message update = %v, want the create's new message %v", calls[1].Fields["message"], create["message"])
			}
			if calls[2].Fields["description"] != create["description"] || !strings.HasPrefix(calls[2].Fields["description"].(string), "Now above 5s") {
				t.Errorf("description update = %.40v, want the create's new description", calls[2].Fields["description"])
			}
		})
	}
}

// A failed update fails the delivery, so the outbox retries all three
// requests; the repeated create is only a repeat for the API.
func TestOpsgenieUpdateFailureFailsTheDelivery(t *testing.T) {
	fake := opsgenietest.NewOpsgenie(t, testGenieKey)
	g := newTestOpsgenie(t, fake.URL(), testGenieKey, func(c *Config) { c.UpdateAlerts = true }, publish.Options{})
	fake.Script(publishtest.Answer{Status: 202, Body: `{"result":"Request will be processed","took":0.1,"requestId":"x"}`},
		publishtest.Answer{Status: 503})
	err := g.Publish(context.Background(), publishtest.IncidentAlert())
	if err == nil || !core.IsRetryable(err) || core.StatusCode(err) != 503 {
		t.Fatalf("Publish with the message update answered 503: %v, want a retryable 503", err)
	}
	if n := fake.Requests(); n != 2 {
		t.Errorf("fake answered %d requests, want 2: the description is not sent after a failed message update", n)
	}
}
