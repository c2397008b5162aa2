package config

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeFixture writes content to dir/name, creating folders, and returns
// the path.
func writeFixture(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// parseFixture parses content as the config file conf.yml of a fresh
// directory, returning that path for error checks.
func parseFixture(t *testing.T, content string) (*Config, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "conf.yml")
	cfg, err := Parse([]byte(content), path)
	return cfg, path, err
}

// requireRejectedAt parses content and requires an error that names the
// file and line and says each of want; it returns the error for checks of
// its own.
func requireRejectedAt(t *testing.T, content string, line int, want []string) error {
	t.Helper()
	_, path, err := parseFixture(t, content)
	require.Error(t, err, "the config must be rejected")
	assert.Contains(t, err.Error(), path+":"+strconv.Itoa(line)+":", "the error must name the file and line")
	for _, w := range want {
		assert.Contains(t, err.Error(), w)
	}
	return err
}

func dur(d time.Duration) model.Duration { return model.Duration(d) }

func TestParseEmptyFileGivesDefaults(t *testing.T) {
	for name, content := range map[string]string{
		"empty":        "",
		"comment only": "# nothing configured yet\n",
		"empty blocks": "defaults:\nfanout:\nenrich:\nreceiver:\ntargets:\n",
	} {
		t.Run(name, func(t *testing.T) {
			cfg, path, err := parseFixture(t, content)
			require.NoError(t, err)
			want := Default()
			assert.Equal(t, want.Defaults, cfg.Defaults, "defaults")
			assert.Equal(t, want.Fanout, cfg.Fanout, "fanout")
			assert.Empty(t, cfg.Enrich.Rules, "rules")
			assert.Empty(t, cfg.Targets, "targets")
			assert.Equal(t, []string{path}, cfg.Files)
		})
	}
}

func TestDefaultIsSane(t *testing.T) {
	d := Default()
	assert.Equal(t, Defaults{
		Timeout: dur(10 * time.Second), SendResolved: true,
		Breaker: Breaker{Failures: 5, OpenFor: dur(5 * time.Second), HalfOpenRequests: 1},
	}, d.Defaults)
	assert.Equal(t, Fanout{
		Timeout: dur(30 * time.Second), MaxConcurrent: 10, HealthStrategy: core.StrategySkipUnhealthy,
		DedupWindow: dur(15 * time.Minute),
	}, d.Fanout)
}

// TestTargetSettings proves how a target's own values and the defaults
// combine; the yaml decoder must fill in only the keys that are written.
func TestTargetSettings(t *testing.T) {
	builtin := Default().Defaults.Breaker
	tests := []struct {
		name     string
		defaults string
		target   string // extra keys of a file target, indented by 4
		timeout  model.Duration
		resolved bool
		breaker  Breaker
	}{
		{
			name: "no overrides: built-in defaults", timeout: dur(10 * time.Second), resolved: true, breaker: builtin,
		},
		{
			name: "own timeout and send_resolved", target: "    timeout: 3s\n    send_resolved: false\n",
			timeout: dur(3 * time.Second), resolved: false, breaker: builtin,
		},
		{
			name:     "changed defaults reach the target",
			defaults: "defaults:\n  timeout: 4s\n  send_resolved: false\n",
			timeout:  dur(4 * time.Second), resolved: false, breaker: builtin,
		},
		{
			name:    "partial breaker keeps the other default fields",
			target:  "    breaker:\n      failures: 2\n",
			timeout: dur(10 * time.Second), resolved: true,
			breaker: Breaker{Failures: 2, OpenFor: builtin.OpenFor, HalfOpenRequests: builtin.HalfOpenRequests},
		},
		{
			name:     "partial breaker on top of partial defaults",
			defaults: "defaults:\n  breaker:\n    open_for: 1m\n",
			target:   "    breaker: {half_open_requests: 3}\n",
			timeout:  dur(10 * time.Second), resolved: true,
			breaker: Breaker{Failures: builtin.Failures, OpenFor: dur(time.Minute), HalfOpenRequests: 3},
		},
		{
			name: "empty breaker block keeps the defaults", target: "    breaker: {}\n",
			timeout: dur(10 * time.Second), resolved: true, breaker: builtin,
		},
		{
			name: "null breaker keeps the defaults", target: "    breaker:\n",
			timeout: dur(10 * time.Second), resolved: true, breaker: builtin,
		},
		{
			name:     "a target's send_resolved: true beats defaults' false",
			defaults: "defaults:\n  send_resolved: false\n",
			target:   "    send_resolved: true\n",
			timeout:  dur(10 * time.Second), resolved: true, breaker: builtin,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := tt.defaults + "targets:\n  - name: audit\n    type: file\n    path: alerts.jsonl\n" + tt.target
			cfg, _, err := parseFixture(t, content)
			require.NoError(t, err, "config:\n%s", content)
			require.Len(t, cfg.Targets, 1)
			got := cfg.Targets[0]
			assert.Equal(t, time.Duration(tt.timeout), got.Timeout, "timeout")
			assert.Equal(t, tt.resolved, got.SendResolved, "send_resolved")
			assert.Equal(t, tt.breaker.settings(), got.Breaker, "breaker")
		})
	}
}

func TestPartialSectionsKeepDefaults(t *testing.T) {
	cfg, _, err := parseFixture(t, "fanout:\n  max_concurrent: 3\ndefaults:\n  breaker:\n    failures: 9\n")
	require.NoError(t, err)
	want := Default()
	want.Fanout.MaxConcurrent = 3
	want.Defaults.Breaker.Failures = 9
	assert.Equal(t, want.Fanout, cfg.Fanout, "fanout: only max_concurrent may change")
	assert.Equal(t, want.Defaults, cfg.Defaults, "defaults: only breaker.failures may change")
}

func TestEnrichRules(t *testing.T) {
	cfg, _, err := parseFixture(t, `enrich:
  rules:
    - name: payments
      match: ['team="payments"', 'severity=~"crit.*"']
      severity: critical
      priority: P1
      labels: {owner: payments-oncall}
      annotations: {runbook_url: "https://runbooks.example.com/payments"}
    - match: ['env="staging"']
      severity: info
`)
	require.NoError(t, err)
	require.Len(t, cfg.Enrich.Rules, 2)
	r := cfg.Enrich.Rules[0]
	assert.Equal(t, "payments", r.Name)
	assert.Equal(t, "critical", r.Severity)
	assert.Equal(t, "P1", r.Priority)
	assert.Equal(t, map[string]string{"owner": "payments-oncall"}, r.Labels)
	assert.Equal(t, map[string]string{"runbook_url": "https://runbooks.example.com/payments"}, r.Annotations)
	require.Len(t, r.Matchers, 2, "one matcher per match entry")
	assert.Equal(t, `team="payments"`, r.Matchers[0].String())
	assert.True(t, r.Matchers[1].Matches("critical"), "regex matcher must be compiled")
	assert.Equal(t, "rule-2", cfg.Enrich.Rules[1].Name, "an unnamed rule is named by its position")
}

func TestTargetMatchers(t *testing.T) {
	cfg, _, err := parseFixture(t, `targets:
  - name: pd
    type: file
    path: pd.jsonl
    match: ['severity=~"critical|page"', 'team!="sandbox"']
  - name: all
    type: file
    path: all.jsonl
`)
	require.NoError(t, err)
	pd, all := cfg.Targets[0], cfg.Targets[1]
	tests := []struct {
		labels  map[string]string
		wantPD  bool
		wantAll bool
	}{
		{map[string]string{"severity": "critical", "team": "db"}, true, true},
		{map[string]string{"severity": "page"}, true, true},
		{map[string]string{"severity": "critical", "team": "sandbox"}, false, true},
		{map[string]string{"severity": "warning"}, false, true},
		{map[string]string{}, false, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.wantPD, pd.Selector.Selects(tt.labels), "pd selects %v", tt.labels)
		assert.Equal(t, tt.wantAll, all.Selector.Selects(tt.labels), "a target without match selects %v", tt.labels)
	}
}

func TestTargetSource(t *testing.T) {
	cfg, path, err := parseFixture(t, "# targets\ntargets:\n  - name: a\n    type: file\n    path: a\n\n  - {name: b, type: file, path: b}\n")
	require.NoError(t, err)
	assert.Equal(t, path+":3", cfg.Targets[0].Source)
	assert.Equal(t, path+":7", cfg.Targets[1].Source)
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name    string
		content string
		line    int
		want    []string
	}{
		{"unknown top-level key", "fanout:\n  timeout: 5s\nfanuot:\n  timeout: 5s\n", 3, []string{`unknown field "fanuot"`}},
		{"unknown key in a section", "fanout:\n  timeout: 5s\n  max_concurent: 3\n", 3, []string{`unknown field "max_concurent"`}},
		{"unknown key in a rule", "enrich:\n  rules:\n    - name: r\n      lables: {a: b}\n", 4, []string{`unknown field "lables"`}},
		{"unknown key in a target", "targets:\n  - name: a\n    type: file\n    path: x\n    fsynk: true\n", 5,
			[]string{`unknown field "fsynk"`, "fsync", "path", "send_resolved"}},
		{"unknown key nested in http_config", "targets:\n  - name: a\n    type: webhook\n    url: http://x\n" +
			"    http_config:\n      tls_config:\n        insecure_skip_verify: true\n        ca_fiel: ca.pem\n", 8,
			[]string{`unknown field "ca_fiel"`, "ca_file"}},
		{"unknown key in a target's breaker", "targets:\n  - name: a\n    type: file\n    path: x\n    breaker:\n      failure: 3\n", 6,
			[]string{`unknown field "failure"`, "failures"}},
		{"unknown type", "targets:\n  - name: a\n    type: smtp\n", 3, []string{`target "a"`, `unknown type "smtp"`, "webhook"}},
		{"missing type", "targets:\n  - name: a\n    path: x\n", 2, []string{`target "a" has no type`, "file"}},
		{"missing name", "targets:\n  - type: file\n    path: x\n", 2, []string{"a file target has no name"}},
		{"upper case name", "targets:\n  - type: file\n    path: x\n    name: Audit\n", 4, []string{`"Audit"`, "DNS-1123"}},
		{"underscore in name", "targets:\n  - {name: my_audit, type: file, path: x}\n", 2, []string{`"my_audit"`, "DNS-1123"}},
		{"name too long", "targets:\n  - {name: " + strings.Repeat("a", 64) + ", type: file, path: x}\n", 2, []string{"at most 63"}},
		{"target not a mapping", "targets:\n  - audit\n", 2, []string{"must be a mapping"}},
		{"bad target matcher", "targets:\n  - name: a\n    type: file\n    path: x\n    match:\n      - team=\"db\"\n      - 'severity=~\"(\"'\n", 7,
			[]string{`target "a"`, "matcher", "severity"}},
		{"bad rule matcher", "enrich:\n  rules:\n    - name: r\n      match:\n        - 'a=~\"[\"'\n", 5, []string{`rule "r"`, "matcher"}},
		{"bad rule severity", "enrich:\n  rules:\n    - name: r\n      severity: urgent\n", 4, []string{`"urgent"`}},
		{"bad duration", "defaults:\n  timeout: soon\n", 2, []string{"soon"}},
		{"open path that is no read endpoint", "receiver:\n  open_paths:\n    - /metrics\n    - /webhook\n", 4,
			[]string{"receiver.open_paths.1", `"/webhook" is not a read endpoint`, "/api/v1/targets"}},
		{"bad duration deep in a section", "defaults:\n  timeout: 1s\n  breaker:\n    failures: 2\n    open_for: 30 seconds\n", 5,
			[]string{"30 seconds"}},
		{"bad duration in a target", "targets:\n  - name: a\n    type: file\n    path: x\n    timeout: 5 min\n", 5, []string{"5 min"}},
		{"bad duration in a target's breaker", "targets:\n  - name: a\n    type: file\n    path: x\n    breaker: {open_for: x}\n", 5,
			[]string{`"x"`}},
		{"wrong type in a target", "targets:\n  - name: a\n    type: file\n    path: x\n    fsync: maybe\n", 5, []string{"maybe"}},
		// The YAML scanner reports the line before the tab.
		{"tab indentation is not YAML", "fanout:\n  timeout: 5s\n\tmax_concurrent: 3\n", 2, []string{"tab character"}},
		{"zero timeout", "defaults:\n  timeout: 0s\n", 2, []string{"defaults.timeout", "positive"}},
		{"zero breaker failures", "defaults:\n  breaker:\n    failures: 0\n", 3, []string{"defaults.breaker.failures"}},
		{"zero max_concurrent", "fanout:\n  max_concurrent: 0\n", 2, []string{"fanout.max_concurrent", "at least 1"}},
		{"bad health strategy", "fanout:\n  health_strategy: yolo\n", 2, []string{`"yolo"`, "skip_unhealthy"}},
		// A missing field is reported at the target; a bad one at its key.
		{"file target without path", "targets:\n  - name: a\n    type: file\n", 2, []string{"path is required"}},
		{"webhook format invalid", "targets:\n  - name: a\n    type: webhook\n    url: http://x\n    format: xml\n", 5,
			[]string{`format "xml"`, "alertmanager", "enriched"}},
		{"webhook without url", "targets:\n  - name: a\n    type: webhook\n", 2, []string{"url or url_file is required"}},
		{"url and url_file both set", "targets:\n  - name: a\n    type: webhook\n    url: http://x\n    url_file: u\n", 4,
			[]string{"url, url_file", "mutually exclusive"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := parseFixture(t, tt.content)
			require.Error(t, err, "config:\n%s", tt.content)
			prefix := path + ":" + strconv.Itoa(tt.line) + ": "
			assert.True(t, strings.HasPrefix(err.Error(), prefix), "error %q must start with %q", err, prefix)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}
