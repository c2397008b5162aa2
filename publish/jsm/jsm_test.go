package jsm

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/genie"
	"github.com/am-fanout/am-fanout/publish/jsm/jsmtest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

const testKey = "eb243592-faa2-4ba2-a551-1afdf565c889"

func newTestJSM(t *testing.T, url, key string, edit func(*Config), o publish.Options) *genie.Publisher {
	t.Helper()
	c := &Config{Fields: genie.Fields{APIKey: publish.Secret(key), URL: url, HTTPConfig: commoncfg.DefaultHTTPClientConfig}}
	if edit != nil {
		edit(c)
	}
	p, err := newJSM("jsm", c, o)
	if err != nil {
		t.Fatalf("newJSM: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestJSMRequestsMatchGoldenFiles(t *testing.T) {
	tests := []struct {
		name, golden, wantPath, wantQuery string
		alert                             func() *core.EnrichedAlert
		edit                              func(*Config)
	}{
		{
			name: "firing alert creates under the integration path", golden: "firing.json", alert: publishtest.IncidentAlert,
			wantPath: "/jsm/ops/integration/v2/alerts",
			edit: func(c *Config) {
				c.Responders = []genie.Responder{{Type: "team", Name: "checkout"}}
				c.Tags = []string{"prod"}
			},
		},
		{
			name: "resolved alert closes by alias", golden: "resolved.json", alert: publishtest.ResolvedIncidentAlert,
			wantPath: "/jsm/ops/integration/v2/alerts/a1b2c3d4e5f60718/close", wantQuery: "identifierType=alias",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := jsmtest.NewJSM(t, testKey)
			p := newTestJSM(t, fake.URL(), testKey, tc.edit, publish.Options{})
			if err := p.Publish(context.Background(), tc.alert()); err != nil {
				t.Fatalf("Publish: %v (fake rejected: %v)", err, fake.Rejects())
			}
			calls := fake.Calls()
			if len(calls) != 1 {
				t.Fatalf("fake accepted %d requests, want 1", len(calls))
			}
			if calls[0].Method != http.MethodPost || calls[0].Path != tc.wantPath || calls[0].Query != tc.wantQuery {
				t.Errorf("request %s %s?%s, want POST %s?%s", calls[0].Method, calls[0].Path, calls[0].Query, tc.wantPath, tc.wantQuery)
			}
			publishtest.AssertGolden(t, tc.golden, calls[0].Body)
		})
	}
}

// The close after a restart finds the alert by its alias alone, escaped
// as one path segment.
func TestJSMAliasSurvivesRestartAndIsEscaped(t *testing.T) {
	fake := jsmtest.NewJSM(t, testKey)
	a := publishtest.IncidentAlert()
	a.Alert.Fingerprint = "fp/with space"
	if err := newTestJSM(t, fake.URL(), testKey, nil, publish.Options{}).Publish(context.Background(), a); err != nil {
		t.Fatalf("create: %v", err)
	}
	a.Alert.Status = core.StatusResolved
	if err := newTestJSM(t, fake.URL()+"/", testKey, nil, publish.Options{}).Publish(context.Background(), a); err != nil {
		t.Fatalf("close: %v (fake rejected: %v)", err, fake.Rejects())
	}
	calls := fake.Calls()
	if calls[0].Fields["alias"] != "fp/with space" || calls[1].Path != "/jsm/ops/integration/v2/alerts/fp%2Fwith%20space/close" {
		t.Errorf("alias %v, close path %s; want the fingerprint, escaped as one segment", calls[0].Fields["alias"], calls[1].Path)
	}
}

func TestJSMClassifiesAnswers(t *testing.T) {
	tests := []struct {
		name           string
		key            string
		script         []publishtest.Answer
		wantStatus     int
		wantRetryable  bool
		wantRetryAfter time.Duration
	}{
		{name: "429 is retryable with Retry-After", key: testKey, script: []publishtest.Answer{{Status: 429, RetryAfter: "7"}}, wantStatus: 429, wantRetryable: true, wantRetryAfter: 7 * time.Second},
		{name: "502 is retryable", key: testKey, script: []publishtest.Answer{{Status: 502}}, wantStatus: 502, wantRetryable: true},
		{name: "a wrong key is a permanent 401", key: "00000000-0000-0000-0000-000000000000", wantStatus: 401},
		{name: "422 is permanent", key: testKey, script: []publishtest.Answer{{Status: 422, Body: `{"message":"Request body is not processable.","errors":{"message":"Message can not be empty."}}`}}, wantStatus: 422},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			fake := jsmtest.NewJSM(t, testKey)
			fake.Script(tc.script...)
			p := newTestJSM(t, fake.URL(), tc.key, nil, publish.Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			err := p.Publish(context.Background(), publishtest.IncidentAlert())
			if err == nil {
				t.Fatal("Publish: want an error, got none")
			}
			if core.StatusCode(err) != tc.wantStatus || core.IsRetryable(err) != tc.wantRetryable || core.RetryAfter(err) != tc.wantRetryAfter {
				t.Errorf("error %v: status %d retryable %v retry-after %v, want %d %v %v", err,
					core.StatusCode(err), core.IsRetryable(err), core.RetryAfter(err), tc.wantStatus, tc.wantRetryable, tc.wantRetryAfter)
			}
			publishtest.AssertSecretHidden(t, tc.key, err, &logs)
		})
	}
}

func TestJSMRenderSetsAuthAndSendsNothing(t *testing.T) {
	fake := jsmtest.NewJSM(t, testKey)
	p := newTestJSM(t, fake.URL(), testKey, nil, publish.Options{})
	for _, a := range []*core.EnrichedAlert{publishtest.IncidentAlert(), publishtest.ResolvedIncidentAlert()} {
		reqs, err := p.Render(context.Background(), a)
		if err != nil || len(reqs) != 1 {
			t.Fatalf("Render %s: %d requests, %v; want 1, nil", a.Alert.Status, len(reqs), err)
		}
		if got := reqs[0].Header.Get("Authorization"); got != "GenieKey "+testKey {
			t.Errorf("Render %s: Authorization %q, want GenieKey", a.Alert.Status, got)
		}
	}
	if n := fake.Requests(); n != 0 {
		t.Errorf("Render sent %d requests, want none", n)
	}
}
