package opsgenie

import (
	"context"
	"strings"
	"testing"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/genie"
	"github.com/am-fanout/am-fanout/publish/opsgenie/opsgenietest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

func TestOpsgenieTemplatedRespondersAreCheckedAtLoad(t *testing.T) {
	tests := []struct {
		name       string
		responders []genie.Responder
		wantErr    string
	}{
		{name: "a templated name", responders: []genie.Responder{{Type: "team", Name: "{{ .CommonLabels.team }}"}}},
		{name: "a templated type", responders: []genie.Responder{{Type: "{{ .CommonLabels.kind }}", Name: "{{ .CommonLabels.who }}"}}},
		{name: "a template that does not parse", responders: []genie.Responder{{Type: "team", Name: "{{ .CommonLabels.team "}}, wantErr: "responders[0]: templates.name"},
		{name: "a static type still checked", responders: []genie.Responder{{Type: "squad", Name: "{{ .CommonLabels.team }}"}}, wantErr: `responders[0]: type "squad"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Config{Fields: genie.Fields{APIKey: testGenieKey, Responders: tc.responders, HTTPConfig: commoncfg.DefaultHTTPClientConfig}}
			err := c.Validate(t.TempDir())
			if tc.wantErr == "" && err != nil {
				t.Errorf("Validate: %v, want success", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("Validate: %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestOpsgenieTemplatedRespondersRenderFromLabels(t *testing.T) {
	responders := []genie.Responder{
		{Type: "team", Name: "{{ .CommonLabels.service }}-oncall"},
		{Type: "user", Username: "{{ .CommonLabels.owner }}"},                     // no owner label: left out
		{Type: "team", Name: `{{ template "no.such" . }}`},                        // fails: left out, reported
		{Type: "{{ .CommonLabels.kind }}", Name: "sre"},                           // renders no type: left out, logged
		{Type: "schedule", ID: "aee8a0de"},                                        // static
		{Type: "user", Name: "{{ .CommonLabels.service }}", Username: `{{ "" }}`}, // a user by name: left out, logged
	}
	want := []any{
		map[string]any{"type": "team", "name": "checkout-oncall"},
		map[string]any{"type": "schedule", "id": "aee8a0de"},
	}
	for name, publishTo := range map[string]func(*genie.Publisher) error{
		"group": func(g *genie.Publisher) error {
			return g.PublishGroup(context.Background(), publishtest.IncidentNotification())
		},
		"one alert": func(g *genie.Publisher) error { return g.Publish(context.Background(), publishtest.IncidentAlert()) },
	} {
		t.Run(name, func(t *testing.T) {
			fake := opsgenietest.NewOpsgenie(t, testGenieKey)
			log, logs := publishtest.DebugLogger()
			var failed []string
			g := newTestOpsgenie(t, fake.URL(), testGenieKey, func(s *Config) { s.Responders = responders },
				publish.Options{Logger: log, OnTemplateError: func(target, field string) { failed = append(failed, target+"/"+field) }})
			if err := publishTo(g); err != nil {
				t.Fatalf("publish: %v (fake rejected: %v)", err, fake.Rejects())
			}
			if got := fake.Calls()[0].Fields["responders"]; !publishtest.EqualJSON(got, want) {
				t.Errorf("responders = %v, want %v", got, want)
			}
			if len(failed) != 3 || strings.Count(logs.String(), "responder left out") != 3 {
				t.Errorf("reported %v and logged %d, want the 3 responders that rendered wrong", failed, strings.Count(logs.String(), "responder left out"))
			}
		})
	}
}
