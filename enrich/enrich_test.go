package enrich

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
)

var testNow = time.Date(2026, 1, 15, 10, 5, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// rule builds a config.Rule the way config.Parse does: matchers parsed
// from their Alertmanager text form.
func rule(t testing.TB, name string, match ...string) config.Rule {
	t.Helper()
	r := config.Rule{Name: name, Match: match}
	for _, m := range match {
		ms, err := labels.ParseMatchers(m)
		require.NoError(t, err, "matcher %q", m)
		r.Matchers = append(r.Matchers, ms...)
	}
	return r
}

// message wraps alerts in a valid v4 message.
func message(alerts ...template.Alert) *Message {
	return &Message{
		Data: template.Data{
			Receiver: "am-fanout", Status: "firing", Alerts: alerts,
			GroupLabels:  template.KV{"alertname": "A"},
			CommonLabels: template.KV{"alertname": "A"},
		},
		Version: "4", GroupKey: `{}:{alertname="A"}`,
	}
}

func firing(ls template.KV) template.Alert {
	return template.Alert{Status: "firing", Labels: ls, Annotations: template.KV{}}
}

func loadPayload(t testing.TB) *Message {
	t.Helper()
	f, err := os.Open("testdata/payload.json")
	require.NoError(t, err)
	defer f.Close()
	msg, err := Decode(f)
	require.NoError(t, err)
	return msg
}

func TestEnrichRealPayload(t *testing.T) {
	msg := loadPayload(t)
	got := New(nil, fixedNow).Enrich(msg)
	require.Len(t, got, 2, "one enriched alert per payload alert")

	wantGroup := core.Group{
		Receiver: "am-fanout", Status: core.StatusFiring,
		GroupKey:    `{}/{team="payments"}:{alertname="HighLatency"}`,
		GroupLabels: map[string]string{"alertname": "HighLatency"},
		CommonLabels: map[string]string{
			"alertname": "HighLatency", "job": "api", "severity": "page", "team": "payments",
		},
		CommonAnnotations: map[string]string{
			"runbook_url": "https://runbooks.example.com/api/high-latency", "summary": "API latency is high",
		},
		ExternalURL: "http://alertmanager.example.com:9093",
	}
	for i, ea := range got {
		assert.Equal(t, wantGroup, ea.Group, "alert %d: group context", i)
		assert.Equal(t, testNow, ea.ReceivedAt, "alert %d: receivedAt comes from now()", i)
		assert.Equal(t, core.Classification{Severity: core.SeverityCritical, RawSeverity: "page"}, ea.Classification,
			"alert %d: severity \"page\" is critical", i)
		assert.Equal(t, msg.Alerts[i].Fingerprint, ea.Alert.Fingerprint, "alert %d: fingerprint from the payload", i)
	}

	a := got[1].Alert
	assert.Equal(t, core.StatusResolved, a.Status)
	assert.Equal(t, "api-2:8080", a.Labels["instance"])
	assert.Equal(t, "API latency is high", a.Annotations["summary"])
	assert.True(t, a.StartsAt.Equal(time.Date(2026, 1, 15, 9, 58, 5, 123e6, time.UTC)), "startsAt: %v", a.StartsAt)
	assert.True(t, a.EndsAt.Equal(time.Date(2026, 1, 15, 10, 3, 5, 123e6, time.UTC)), "endsAt: %v", a.EndsAt)
	assert.Equal(t, msg.Alerts[1].GeneratorURL, a.GeneratorURL)

	assert.Equal(t, []string{core.LinkSource, core.LinkRunbook, core.LinkSilence}, linkNames(got[1].Links))
	assert.Equal(t, "https://runbooks.example.com/api/high-latency", got[1].Link(core.LinkRunbook))
	assert.Equal(t, "http://alertmanager.example.com:9093/#/silences/new?filter="+
		"%7Balertname%3D%22HighLatency%22%2C%20instance%3D%22api-2%3A8080%22%2C%20job%3D%22api%22%2C%20"+
		"severity%3D%22page%22%2C%20team%3D%22payments%22%7D", got[1].Link(core.LinkSilence))
}

func TestEnrichSharesNoMapWithThePayload(t *testing.T) {
	msg := loadPayload(t)
	got := New([]config.Rule{{Name: "all", Labels: map[string]string{"enriched": "yes"}}}, fixedNow).Enrich(msg)

	for _, ea := range got {
		ea.Alert.Labels["x"] = "changed"
		ea.Alert.Annotations["x"] = "changed"
		ea.Group.GroupLabels["x"] = "changed"
		ea.Group.CommonLabels["x"] = "changed"
		ea.Group.CommonAnnotations["x"] = "changed"
	}
	for i, a := range msg.Alerts {
		assert.NotContains(t, a.Labels, "x", "alert %d: payload labels changed through the result", i)
		assert.NotContains(t, a.Labels, "enriched", "alert %d: a rule changed the payload's labels", i)
		assert.NotContains(t, a.Annotations, "x", "alert %d: payload annotations changed through the result", i)
	}
	assert.NotContains(t, msg.GroupLabels, "x", "payload groupLabels changed through the result")
	assert.NotContains(t, msg.CommonLabels, "x", "payload commonLabels changed through the result")
	assert.NotContains(t, msg.CommonAnnotations, "x", "payload commonAnnotations changed through the result")

	fresh := New(nil, fixedNow).Enrich(msg)
	assert.NotContains(t, fresh[0].Group.GroupLabels, "x", "alerts of one message must not share group maps")
}

func TestEnrichNilMapsBecomeEmpty(t *testing.T) {
	msg := &Message{Version: "4", Data: template.Data{Alerts: template.Alerts{{Status: "firing", Labels: template.KV{"a": "b"}}}}}
	ea := New(nil, fixedNow).Enrich(msg)[0]
	assert.NotNil(t, ea.Alert.Annotations, "annotations must be an object, not null, for targets")
	assert.NotNil(t, ea.Group.GroupLabels, "groupLabels must be an object, not null, for targets")
	assert.NotNil(t, ea.Group.CommonLabels, "commonLabels must be an object, not null, for targets")
	assert.NotNil(t, ea.Group.CommonAnnotations, "commonAnnotations must be an object, not null, for targets")
}

func TestFingerprint(t *testing.T) {
	tests := []struct {
		name   string
		labels template.KV
		given  string
		want   string
	}{
		// Expected values are model.LabelSet(labels).Fingerprint().String(),
		// which is what Alertmanager puts in the payload.
		{"computed when missing", template.KV{"alertname": "DiskFull"}, "", "744e61ca074bea90"},
		{"computed from every label", template.KV{
			"alertname": "HighLatency", "instance": "api-1:8080", "job": "api", "severity": "page", "team": "payments",
		}, "", "7849e79124fab612"},
		{"kept when present", template.KV{"alertname": "DiskFull"}, "0123456789abcdef", "0123456789abcdef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := firing(tt.labels)
			a.Fingerprint = tt.given
			got := New(nil, fixedNow).Enrich(message(a))[0]
			assert.Equal(t, tt.want, got.Alert.Fingerprint)
		})
	}
	ls := model.LabelSet{"alertname": "DiskFull"}
	assert.Equal(t, ls.Fingerprint().String(), Fingerprint(map[string]string{"alertname": "DiskFull"}),
		"Fingerprint must agree with Alertmanager's label set fingerprint")
}

func TestSeverityNormalisation(t *testing.T) {
	tests := []struct {
		raw  string
		want core.Severity
	}{
		{"critical", core.SeverityCritical}, {"CRITICAL", core.SeverityCritical}, {" Crit ", core.SeverityCritical},
		{"page", core.SeverityCritical}, {"pager", core.SeverityCritical}, {"emergency", core.SeverityCritical},
		{"fatal", core.SeverityCritical}, {"P1", core.SeverityCritical}, {"sev1", core.SeverityCritical},
		{"warning", core.SeverityWarning}, {"Warn", core.SeverityWarning}, {"error", core.SeverityWarning},
		{"err", core.SeverityWarning}, {"high", core.SeverityWarning}, {"major", core.SeverityWarning},
		{"p2", core.SeverityWarning}, {"p3", core.SeverityWarning}, {"SEV2", core.SeverityWarning},
		{"sev3", core.SeverityWarning},
		{"info", core.SeverityInfo}, {"informational", core.SeverityInfo}, {"notice", core.SeverityInfo},
		{"low", core.SeverityInfo}, {"minor", core.SeverityInfo}, {"none", core.SeverityInfo},
		{"p4", core.SeverityInfo}, {"p5", core.SeverityInfo}, {"sev4", core.SeverityInfo}, {"sev5", core.SeverityInfo},
		{"bogus", core.SeverityInfo}, {"", core.SeverityInfo},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			ls := template.KV{"alertname": "A"}
			if tt.raw != "" {
				ls["severity"] = tt.raw
			}
			got := New(nil, fixedNow).Enrich(message(firing(ls)))[0].Classification
			assert.Equal(t, tt.want, got.Severity, "severity label %q", tt.raw)
			assert.Equal(t, tt.raw, got.RawSeverity, "RawSeverity keeps the label as received")
		})
	}
}

func linkNames(ls []core.Link) []string {
	names := make([]string, 0, len(ls))
	for _, l := range ls {
		names = append(names, l.Name)
	}
	return names
}

func TestEnrichKeepsPayloadOrder(t *testing.T) {
	var alerts []template.Alert
	for _, n := range []string{"c", "a", "b"} {
		alerts = append(alerts, firing(template.KV{"alertname": n}))
	}
	var got []string
	for _, ea := range New(nil, fixedNow).Enrich(message(alerts...)) {
		got = append(got, ea.Alert.Labels["alertname"])
	}
	assert.Equal(t, []string{"c", "a", "b"}, got)
}

func BenchmarkEnrich(b *testing.B) {
	alerts := make([]template.Alert, 10)
	for i := range alerts {
		alerts[i] = template.Alert{
			Status: "firing",
			Labels: template.KV{
				"alertname": "HighLatency", "instance": "api-" + strings.Repeat("x", i) + ":8080",
				"job": "api", "severity": "page", "team": "payments",
			},
			Annotations:  template.KV{"summary": "API latency is high", "runbook_url": "https://runbooks.example.com/x"},
			GeneratorURL: "http://prometheus.example.com:9090/graph?g0.expr=up",
		}
	}
	msg := message(alerts...)
	msg.ExternalURL = "http://alertmanager.example.com:9093"
	rules := []config.Rule{
		rule(b, "payments", `team="payments"`),
		rule(b, "api-latency", `alertname=~"High.*"`, `job="api"`),
		rule(b, "db", `job="db"`),
	}
	rules[0].Labels = map[string]string{"owner": "payments-oncall"}
	rules[1].Priority = "P1"
	rules[1].Annotations = map[string]string{"dashboard_url": "https://grafana.example.com/d/api"}
	e := New(rules, fixedNow)
	b.ReportAllocs()
	for b.Loop() {
		if got := e.Enrich(msg); len(got) != 10 {
			b.Fatalf("got %d enriched alerts, want 10", len(got))
		}
	}
}
