package opsgenie

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/genie"
	"github.com/am-fanout/am-fanout/publish/opsgenie/opsgenietest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

var (
	_ core.GroupPublisher   = (*genie.Publisher)(nil)
	_ publish.GroupRenderer = (*genie.Publisher)(nil)
)

// alertmanagerAlias is the alias Alertmanager's Opsgenie integration
// gives the group {}:{alertname="HighLatency"}: the hex SHA-256 of the
// group key.
const alertmanagerAlias = "d4061866bc333de2350285b0452a21f78349e3d63b4f06b6c956f64f95d7be36"

func TestOpsgenieGroupRequestsMatchGoldenFiles(t *testing.T) {
	tests := []struct {
		name, golden, wantPath, wantQuery string
		notification                      func() *core.Notification
		edit                              func(*Config)
	}{
		{
			name: "firing group creates one alert aliased by the group key hash", golden: "group-firing.json",
			notification: publishtest.IncidentNotification, wantPath: "/v2/alerts",
			edit: func(s *Config) { s.Responders = []genie.Responder{{Type: "team", Name: "checkout"}} },
		},
		{
			name: "resolved group closes that alias", golden: "group-resolved.json", notification: publishtest.ResolvedIncidentNotification,
			wantPath: "/v2/alerts/" + alertmanagerAlias + "/close", wantQuery: "identifierType=alias",
		},
		{
			name: "templates run over Alertmanager's data", golden: "group-templated.json", notification: publishtest.IncidentNotification, wantPath: "/v2/alerts",
			edit: func(s *Config) {
				s.Templates = publish.Templates{
					"message":     `{{ template "opsgenie.default.message" . }}`,
					"description": `{{ range .Alerts.Firing }}{{ .Labels.instance }} {{ end }}`,
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := opsgenietest.NewOpsgenie(t, testGenieKey)
			g := newTestOpsgenie(t, fake.URL(), testGenieKey, tc.edit, publish.Options{})
			if err := g.PublishGroup(context.Background(), tc.notification()); err != nil {
				t.Fatalf("PublishGroup: %v (fake rejected: %v)", err, fake.Rejects())
			}
			calls := fake.Calls()
			if len(calls) != 1 {
				t.Fatalf("fake accepted %d requests, want 1", len(calls))
			}
			if calls[0].Path != tc.wantPath || calls[0].Query != tc.wantQuery {
				t.Errorf("request to %s?%s, want %s?%s", calls[0].Path, calls[0].Query, tc.wantPath, tc.wantQuery)
			}
			publishtest.AssertGolden(t, tc.golden, calls[0].Body)
		})
	}
}

func TestOpsgenieGroupAliasIsAlertmanagers(t *testing.T) {
	fake := opsgenietest.NewOpsgenie(t, testGenieKey)
	g := newTestOpsgenie(t, fake.URL(), testGenieKey, func(s *Config) { s.UpdateAlerts = true }, publish.Options{})
	if err := g.PublishGroup(context.Background(), publishtest.IncidentNotification()); err != nil {
		t.Fatalf("PublishGroup: %v (fake rejected: %v)", err, fake.Rejects())
	}
	calls := fake.Calls()
	if len(calls) != 3 {
		t.Fatalf("fake accepted %d requests, want the create and two updates", len(calls))
	}
	if calls[0].Fields["alias"] != alertmanagerAlias {
		t.Errorf("alias = %v, want %s", calls[0].Fields["alias"], alertmanagerAlias)
	}
	for _, c := range calls[1:] {
		if !strings.HasPrefix(c.Path, "/v2/alerts/"+alertmanagerAlias+"/") || c.Method != http.MethodPut {
			t.Errorf("update %s %s, want a PUT by the alias", c.Method, c.Path)
		}
	}
	if p := calls[0].Fields["priority"]; p != "P1" {
		t.Errorf("priority = %v, want P1 of the critical alert firing", p)
	}
}

func TestOpsgenieGroupFitsTheFieldLimits(t *testing.T) {
	fake := opsgenietest.NewOpsgenie(t, testGenieKey)
	g := newTestOpsgenie(t, fake.URL(), testGenieKey, nil, publish.Options{})
	n := publishtest.IncidentNotification()
	n.Group.GroupLabels["alertname"] = strings.Repeat("g", 300)
	n.Group.CommonAnnotations["runbook"] = strings.Repeat("r", 9000)
	proto := n.Alerts[0]
	n.Alerts = nil
	for i := range 2000 {
		a := proto
		a.Alert.Fingerprint = fmt.Sprintf("%016x", i)
		a.Alert.Labels = map[string]string{"alertname": "HighLatency", "instance": fmt.Sprintf("api-%04d", i)}
		n.Alerts = append(n.Alerts, a)
	}
	if err := g.PublishGroup(context.Background(), n); err != nil {
		t.Fatalf("PublishGroup: %v (fake rejected: %v)", err, fake.Rejects())
	}
	f := fake.Calls()[0].Fields
	if msg := f["message"].(string); utf8.RuneCountInString(msg) != 130 || !strings.HasSuffix(msg, "…") {
		t.Errorf("message has %d characters, want 130 ending with …", utf8.RuneCountInString(msg))
	}
	desc := f["description"].(string)
	if utf8.RuneCountInString(desc) > 15000 || !strings.Contains(desc, "- HighLatency: p99 latency above 2s (instance=api-0000)") {
		t.Errorf("description has %d characters, want at most 15000 starting with the alerts in order", utf8.RuneCountInString(desc))
	}
	if !strings.Contains(desc, "… and ") || !strings.Contains(desc, " more\n") {
		t.Errorf("description does not count the alerts left out:\n%s", publishtest.Tail(desc))
	}
	if d := f["details"].(map[string]any); d["am_fanout_trimmed"] != "runbook" {
		t.Errorf("details trimmed = %v, want the long common annotation cut", d["am_fanout_trimmed"])
	}
}

func TestOpsgenieGroupWithoutGroupKeyFailsPermanently(t *testing.T) {
	fake := opsgenietest.NewOpsgenie(t, testGenieKey)
	g := newTestOpsgenie(t, fake.URL(), testGenieKey, nil, publish.Options{})
	n := publishtest.ResolvedIncidentNotification()
	n.Group.GroupKey = ""
	if err := g.PublishGroup(context.Background(), n); !errors.Is(err, publish.ErrNoGroupKey) || core.IsRetryable(err) {
		t.Errorf("PublishGroup: %v, want a permanent ErrNoGroupKey", err)
	}
	if fake.Requests() != 0 {
		t.Errorf("fake got %d requests, want none", fake.Requests())
	}
}

func TestOpsgenieGroupFailureHidesTheKey(t *testing.T) {
	fake := opsgenietest.NewOpsgenie(t, testGenieKey)
	fake.Script(publishtest.Answer{Status: 503})
	log, logs := publishtest.DebugLogger()
	g := newTestOpsgenie(t, fake.URL(), testGenieKey, nil, publish.Options{Logger: log})
	err := g.PublishGroup(context.Background(), publishtest.IncidentNotification())
	if !core.IsRetryable(err) {
		t.Fatalf("PublishGroup: %v, want a retryable 503", err)
	}
	publishtest.AssertSecretHidden(t, testGenieKey, err, logs)
	reqs, err := g.RenderGroup(context.Background(), publishtest.ResolvedIncidentNotification())
	if err != nil || len(reqs) != 1 || reqs[0].Header.Get("Authorization") != "GenieKey "+testGenieKey {
		t.Fatalf("RenderGroup: %d requests, %v; want the close with its GenieKey", len(reqs), err)
	}
	if fake.Requests() != 1 {
		t.Errorf("RenderGroup sent a request")
	}
}
