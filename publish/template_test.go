package publish

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
)

// enrichedFixture is a firing alert with its group context, as enrichment
// produces it.
func enrichedFixture() *core.EnrichedAlert {
	starts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return &core.EnrichedAlert{
		Alert: core.Alert{
			Fingerprint: "a1b2c3d4e5f60718",
			Status:      core.StatusFiring,
			Labels: map[string]string{
				"alertname": "HighLatency", "severity": "critical", "service": "checkout", "cluster": "eu-1",
			},
			Annotations: map[string]string{
				"summary":     "p99 latency above 2s",
				"runbook_url": "https://runbooks.example.com/high-latency",
			},
			StartsAt:     starts,
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=latency",
		},
		Group: core.Group{
			Receiver:          "fanout",
			Status:            core.StatusFiring,
			GroupKey:          `{}:{alertname="HighLatency"}`,
			GroupLabels:       map[string]string{"alertname": "HighLatency"},
			CommonLabels:      map[string]string{"alertname": "HighLatency", "severity": "critical"},
			CommonAnnotations: map[string]string{},
			ExternalURL:       "http://alertmanager:9093",
		},
		Classification: core.Classification{Severity: core.SeverityCritical, RawSeverity: "critical", Priority: "P1"},
		Links: []core.Link{
			{Name: core.LinkRunbook, URL: "https://runbooks.example.com/high-latency"},
		},
		ReceivedAt: starts.Add(30 * time.Second),
	}
}

// templateErrorLog records the OnTemplateError calls.
type templateErrorLog struct{ calls []string }

func (r *templateErrorLog) record(target, field string) { r.calls = append(r.calls, target+"/"+field) }

func TestTextTemplatesRender(t *testing.T) {
	tests := []struct {
		name      string
		tmpls     config.Templates
		field     string
		want      string
		wantError bool // the failure is logged and reported
	}{
		{name: "alert labels", tmpls: config.Templates{"title": "{{ .Alert.Labels.alertname }} on {{ .Alert.Labels.service }}"}, field: "title", want: "HighLatency on checkout"},
		{name: "classification", tmpls: config.Templates{"title": "[{{ .Classification.Severity }}/{{ .Classification.Priority }}]"}, field: "title", want: "[critical/P1]"},
		{name: "methods of the alert", tmpls: config.Templates{"text": `{{ .Summary }} {{ .Link "runbook" }}`}, field: "text", want: "p99 latency above 2s https://runbooks.example.com/high-latency"},
		{name: "alertmanager functions", tmpls: config.Templates{"title": `{{ .Alert.Labels.alertname | toUpper }} {{ .Alert.StartsAt | date "15:04" }}`}, field: "title", want: "HIGHLATENCY 05:06"},
		{name: "output is trimmed", tmpls: config.Templates{"title": "\n  {{ .Alert.Labels.alertname }}  \n"}, field: "title", want: "HighLatency"},
		{name: "missing label renders empty", tmpls: config.Templates{"title": "<{{ .Alert.Labels.nosuch }}>"}, field: "title", want: "<>"},
		{name: "field without template falls back", tmpls: config.Templates{"title": "x"}, field: "text", want: "fallback"},
		{name: "blank output falls back", tmpls: config.Templates{"title": "{{ .Alert.Labels.nosuch }}  "}, field: "title", want: "fallback"},
		{name: "execution error falls back", tmpls: config.Templates{"title": "{{ .Alert.NoSuchField }}"}, field: "title", want: "fallback", wantError: true},
		{name: "failing function falls back", tmpls: config.Templates{"title": `{{ tz "No/Such_Zone" .Alert.StartsAt }}`}, field: "title", want: "fallback", wantError: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			var rec templateErrorLog
			o := Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnTemplateError: rec.record}
			tt, err := newTextTemplates("chat", tc.tmpls, o)
			if err != nil {
				t.Fatalf("newTextTemplates: %v", err)
			}
			if got := tt.render(tc.field, enrichedFixture(), "fallback"); got != tc.want {
				t.Errorf("render(%q) = %q, want %q", tc.field, got, tc.want)
			}
			if !tc.wantError {
				if len(rec.calls) != 0 || logs.Len() != 0 {
					t.Errorf("render reported a failure that did not happen: calls %v, logs %q", rec.calls, logs.String())
				}
				return
			}
			if len(rec.calls) != 1 || rec.calls[0] != "chat/"+tc.field {
				t.Errorf("OnTemplateError calls = %v, want [chat/%s]", rec.calls, tc.field)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "field="+tc.field) {
				t.Errorf("log %q: want a warning naming field %s", logs.String(), tc.field)
			}
		})
	}
}

func TestTextTemplatesWithoutTemplatesRenderFallback(t *testing.T) {
	for _, tmpls := range []config.Templates{nil, {}} {
		tt, err := newTextTemplates("chat", tmpls, Options{})
		if err != nil {
			t.Fatalf("newTextTemplates(%v): %v", tmpls, err)
		}
		if got := tt.render("title", enrichedFixture(), "fallback"); got != "fallback" {
			t.Errorf("render with templates %v = %q, want the fallback", tmpls, got)
		}
	}
}

func TestTextTemplatesFailureWithoutLoggerOrCallback(t *testing.T) {
	tt, err := newTextTemplates("chat", config.Templates{"title": "{{ .Nope }}"}, Options{})
	if err != nil {
		t.Fatalf("newTextTemplates: %v", err)
	}
	if got := tt.render("title", enrichedFixture(), "fallback"); got != "fallback" {
		t.Errorf("render = %q, want the fallback", got)
	}
}

func TestNewTextTemplatesRejectsUnparsable(t *testing.T) {
	_, err := newTextTemplates("chat", config.Templates{"title": "{{ .Alert"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "templates.title") {
		t.Errorf("newTextTemplates error = %v, want one naming templates.title", err)
	}
}
