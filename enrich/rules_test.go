package enrich

import (
	"testing"

	"github.com/prometheus/alertmanager/template"
	"github.com/stretchr/testify/assert"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
)

func TestRules(t *testing.T) {
	received := template.KV{"alertname": "HighLatency", "team": "payments", "severity": "warning", "env": "prod"}
	with := func(r config.Rule, f func(*config.Rule)) config.Rule { f(&r); return r }

	tests := []struct {
		name        string
		rules       []config.Rule
		wantClass   core.Classification
		wantLabels  map[string]string // checked keys only
		wantAnnots  map[string]string // checked keys only
		wantMissing []string          // labels that must not be set
	}{
		{
			name:        "no rule matches: nothing changes",
			rules:       []config.Rule{with(rule(t, "db", `team="db"`), func(r *config.Rule) { r.Labels = map[string]string{"owner": "db"} })},
			wantClass:   core.Classification{Severity: core.SeverityWarning, RawSeverity: "warning"},
			wantMissing: []string{"owner"},
		},
		{
			name: "a matching rule sets labels, annotations, severity and priority",
			rules: []config.Rule{with(rule(t, "payments", `team="payments"`), func(r *config.Rule) {
				r.Labels = map[string]string{"owner": "payments-oncall"}
				r.Annotations = map[string]string{"runbook_url": "https://runbooks.example.com/p"}
				r.Severity, r.Priority = "critical", "P1"
			})},
			wantClass: core.Classification{Severity: core.SeverityCritical, RawSeverity: "warning", Priority: "P1",
				Rules: []string{"payments"}},
			wantLabels: map[string]string{"owner": "payments-oncall", "team": "payments"},
			wantAnnots: map[string]string{"runbook_url": "https://runbooks.example.com/p"},
		},
		{
			name:      "a rule without matchers matches every alert",
			rules:     []config.Rule{rule(t, "all")},
			wantClass: core.Classification{Severity: core.SeverityWarning, RawSeverity: "warning", Rules: []string{"all"}},
		},
		{
			name:        "every matcher of a rule must hold",
			rules:       []config.Rule{with(rule(t, "half", `team="payments"`, `env="staging"`), func(r *config.Rule) { r.Labels = map[string]string{"owner": "x"} })},
			wantClass:   core.Classification{Severity: core.SeverityWarning, RawSeverity: "warning"},
			wantMissing: []string{"owner"},
		},
		{
			name:      "regular expression and negative matchers",
			rules:     []config.Rule{rule(t, "re", `alertname=~"High.*"`, `env!="staging"`, `missing!~".+"`)},
			wantClass: core.Classification{Severity: core.SeverityWarning, RawSeverity: "warning", Rules: []string{"re"}},
		},
		{
			name: "rule values overwrite the alert's labels",
			rules: []config.Rule{with(rule(t, "retag", `team="payments"`), func(r *config.Rule) {
				r.Labels = map[string]string{"team": "billing"}
			})},
			wantClass:  core.Classification{Severity: core.SeverityWarning, RawSeverity: "warning", Rules: []string{"retag"}},
			wantLabels: map[string]string{"team": "billing"},
		},
		{
			name: "later rules win, all matching rules are named in order",
			rules: []config.Rule{
				with(rule(t, "first"), func(r *config.Rule) {
					r.Labels, r.Severity, r.Priority = map[string]string{"owner": "a"}, "critical", "P1"
				}),
				with(rule(t, "second"), func(r *config.Rule) {
					r.Labels, r.Severity, r.Priority = map[string]string{"owner": "b"}, "info", "P4"
				}),
			},
			wantClass: core.Classification{Severity: core.SeverityInfo, RawSeverity: "warning", Priority: "P4",
				Rules: []string{"first", "second"}},
			wantLabels: map[string]string{"owner": "b"},
		},
		{
			name: "matchers see the labels as received, not as an earlier rule changed them",
			rules: []config.Rule{
				with(rule(t, "retag"), func(r *config.Rule) { r.Labels = map[string]string{"team": "billing"} }),
				with(rule(t, "billing", `team="billing"`), func(r *config.Rule) { r.Priority = "P2" }),
				with(rule(t, "payments", `team="payments"`), func(r *config.Rule) { r.Priority = "P3" }),
			},
			wantClass: core.Classification{Severity: core.SeverityWarning, RawSeverity: "warning", Priority: "P3",
				Rules: []string{"retag", "payments"}},
			wantLabels: map[string]string{"team": "billing"},
		},
		{
			name: "a rule setting the severity label changes the severity",
			rules: []config.Rule{with(rule(t, "relabel"), func(r *config.Rule) {
				r.Labels = map[string]string{"severity": "page"}
			})},
			wantClass:  core.Classification{Severity: core.SeverityCritical, RawSeverity: "warning", Rules: []string{"relabel"}},
			wantLabels: map[string]string{"severity": "page"},
		},
		{
			name: "a rule's severity field wins over any severity label",
			rules: []config.Rule{
				with(rule(t, "set"), func(r *config.Rule) { r.Severity = "info" }),
				with(rule(t, "relabel"), func(r *config.Rule) { r.Labels = map[string]string{"severity": "page"} }),
			},
			wantClass: core.Classification{Severity: core.SeverityInfo, RawSeverity: "warning", Rules: []string{"set", "relabel"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls := template.KV{}
			for k, v := range received {
				ls[k] = v
			}
			got := New(tt.rules, fixedNow).Enrich(message(firing(ls)))[0]
			assert.Equal(t, tt.wantClass, got.Classification)
			for k, v := range tt.wantLabels {
				assert.Equal(t, v, got.Alert.Labels[k], "label %q", k)
			}
			for k, v := range tt.wantAnnots {
				assert.Equal(t, v, got.Alert.Annotations[k], "annotation %q", k)
			}
			for _, k := range tt.wantMissing {
				assert.NotContains(t, got.Alert.Labels, k, "label %q must not be set", k)
			}
		})
	}
}
