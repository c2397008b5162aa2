package publish

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// templateErrorLog records the OnTemplateError calls.
type templateErrorLog struct{ calls []string }

func (r *templateErrorLog) record(target, field string) { r.calls = append(r.calls, target+"/"+field) }

func TestTextTemplatesRender(t *testing.T) {
	tests := []struct {
		name      string
		tmpls     Templates
		field     string
		want      string
		wantError bool // the failure is logged and reported
	}{
		{name: "alert labels", tmpls: Templates{"title": "{{ .Alert.Labels.alertname }} on {{ .Alert.Labels.service }}"}, field: "title", want: "HighLatency on checkout"},
		{name: "classification", tmpls: Templates{"title": "[{{ .Classification.Severity }}/{{ .Classification.Priority }}]"}, field: "title", want: "[critical/P1]"},
		{name: "methods of the alert", tmpls: Templates{"text": `{{ .Summary }} {{ .Link "runbook" }}`}, field: "text", want: "p99 latency above 2s https://runbooks.example.com/high-latency"},
		{name: "alertmanager functions", tmpls: Templates{"title": `{{ .Alert.Labels.alertname | toUpper }} {{ .Alert.StartsAt | date "15:04" }}`}, field: "title", want: "HIGHLATENCY 05:06"},
		{name: "output is trimmed", tmpls: Templates{"title": "\n  {{ .Alert.Labels.alertname }}  \n"}, field: "title", want: "HighLatency"},
		{name: "missing label renders empty", tmpls: Templates{"title": "<{{ .Alert.Labels.nosuch }}>"}, field: "title", want: "<>"},
		{name: "field without template falls back", tmpls: Templates{"title": "x"}, field: "text", want: "fallback"},
		{name: "blank output falls back", tmpls: Templates{"title": "{{ .Alert.Labels.nosuch }}  "}, field: "title", want: "fallback"},
		{name: "execution error falls back", tmpls: Templates{"title": "{{ .Alert.NoSuchField }}"}, field: "title", want: "fallback", wantError: true},
		{name: "failing function falls back", tmpls: Templates{"title": `{{ tz "No/Such_Zone" .Alert.StartsAt }}`}, field: "title", want: "fallback", wantError: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			var rec templateErrorLog
			o := Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), OnTemplateError: rec.record}
			tt, err := NewTextTemplates("chat", tc.tmpls, o)
			if err != nil {
				t.Fatalf("NewTextTemplates: %v", err)
			}
			if got := tt.Render(tc.field, publishtest.Alert(), "fallback"); got != tc.want {
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
	for _, tmpls := range []Templates{nil, {}} {
		tt, err := NewTextTemplates("chat", tmpls, Options{})
		if err != nil {
			t.Fatalf("NewTextTemplates(%v): %v", tmpls, err)
		}
		if got := tt.Render("title", publishtest.Alert(), "fallback"); got != "fallback" {
			t.Errorf("render with templates %v = %q, want the fallback", tmpls, got)
		}
	}
}

func TestTextTemplatesFailureWithoutLoggerOrCallback(t *testing.T) {
	tt, err := NewTextTemplates("chat", Templates{"title": "{{ .Nope }}"}, Options{})
	if err != nil {
		t.Fatalf("NewTextTemplates: %v", err)
	}
	if got := tt.Render("title", publishtest.Alert(), "fallback"); got != "fallback" {
		t.Errorf("render = %q, want the fallback", got)
	}
}

func TestNewTextTemplatesRejectsUnparsable(t *testing.T) {
	_, err := NewTextTemplates("chat", Templates{"title": "{{ .Alert"}, Options{})
	if err == nil || !strings.Contains(err.Error(), "templates.title") {
		t.Errorf("NewTextTemplates error = %v, want one naming templates.title", err)
	}
}
