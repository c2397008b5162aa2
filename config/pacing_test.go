package config

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

const (
	pacingHook = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
	pacingKey  = "0123456789abcdef0123456789abcdef"
)

// pacingTargets are one target of each kind the tests need, by name.
var pacingTargets = map[string]string{
	"slack":     "type: slack, url: " + pacingHook,
	"pagerduty": "type: pagerduty, routing_key: " + pacingKey,
	"msteams":   "type: msteams, url: 'https://example.webhook.office.com/workflows/1?sig=SIGSECRET'",
	"discord":   "type: discord, url: 'https://discord.com/api/webhooks/1/TOKSECRET?thread_id=42'",
	"file":      "type: file, path: out.jsonl",
	"webhook":   "type: webhook, url: 'https://hooks.example.com/a'",
}

func TestGroupByAndRateLimitResolution(t *testing.T) {
	tests := []struct {
		name      string
		defaults  string // the defaults block's body, "" for none
		typ       string
		own       string // the target's own keys, "" for none
		wantGroup core.GroupBy
		wantPer   float64
		wantBurst int
		wantScope bool // the vendor's scope is kept
	}{
		{name: "slack defaults to notification at Slack's pace", typ: "slack",
			wantGroup: core.GroupByNotification, wantPer: 1, wantBurst: 3, wantScope: true},
		{name: "msteams defaults to notification at Teams' pace", typ: "msteams",
			wantGroup: core.GroupByNotification, wantPer: 4, wantBurst: 4, wantScope: true},
		{name: "discord defaults to notification at Discord's pace", typ: "discord",
			wantGroup: core.GroupByNotification, wantPer: 0.5, wantBurst: 5, wantScope: true},
		{name: "pagerduty defaults to alert at PagerDuty's pace", typ: "pagerduty",
			wantGroup: core.GroupByAlert, wantPer: 100.0 / 60, wantBurst: 20, wantScope: true},
		{name: "file defaults to alert, unlimited", typ: "file", wantGroup: core.GroupByAlert},
		{name: "webhook defaults to alert, unlimited", typ: "webhook", wantGroup: core.GroupByAlert},
		{name: "defaults win over the type", defaults: "group_by: alert\n  rate_limit: {per_second: 0.2, burst: 2}", typ: "slack",
			wantGroup: core.GroupByAlert, wantPer: 0.2, wantBurst: 2, wantScope: true},
		{name: "the target wins over the defaults", defaults: "group_by: alert\n  rate_limit: {per_second: 0.2, burst: 2}", typ: "slack",
			own: "group_by: notification, rate_limit: {per_second: 3, burst: 6}", wantGroup: core.GroupByNotification, wantPer: 3, wantBurst: 6, wantScope: true},
		{name: "a field left out keeps the vendor's", typ: "slack", own: "rate_limit: {burst: 10}",
			wantGroup: core.GroupByNotification, wantPer: 1, wantBurst: 10, wantScope: true},
		{name: "a field left out keeps the defaults'", defaults: "rate_limit: {per_second: 2}", typ: "pagerduty", own: "rate_limit: {burst: 4}",
			wantGroup: core.GroupByAlert, wantPer: 2, wantBurst: 4, wantScope: true},
		{name: "per_second 0 is unlimited, scope kept", typ: "pagerduty", own: "rate_limit: {per_second: 0}",
			wantGroup: core.GroupByAlert, wantPer: 0, wantBurst: 20, wantScope: true},
		{name: "a limit on an unlimited type", typ: "webhook", own: "group_by: notification, rate_limit: {per_second: 5, burst: 1}",
			wantGroup: core.GroupByNotification, wantPer: 5, wantBurst: 1},
		{name: "burst 0 is fine when unlimited", typ: "file", own: "rate_limit: {per_second: 0, burst: 0}", wantGroup: core.GroupByAlert},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := ""
			if tt.defaults != "" {
				content = "defaults:\n  " + tt.defaults + "\n"
			}
			own := ""
			if tt.own != "" {
				own = ", " + tt.own
			}
			content += "targets:\n  - {name: t, " + pacingTargets[tt.typ] + own + "}\n"
			cfg, err := Parse([]byte(content), filepath.Join(t.TempDir(), "conf.yml"))
			require.NoError(t, err, "config:\n%s", content)
			got := cfg.Targets[0]
			assert.Equal(t, tt.wantGroup, got.GroupBy, "group_by")
			assert.InDelta(t, tt.wantPer, got.RateLimit.PerSecond, 1e-9, "per_second")
			assert.Equal(t, tt.wantBurst, got.RateLimit.Burst, "burst")
			vendor := publish.DefaultRateLimit(got.Spec.(publish.Config)).Scope
			assert.Equal(t, vendor, got.RateLimit.Scope, "the scope is the vendor's, whatever the config sets")
			assert.Equal(t, tt.wantScope, got.RateLimit.Scope != "", "whether the target has a vendor scope")
		})
	}
}

func TestPacingErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name    string
		content string
		line    int
		want    []string
	}{
		{"bad defaults group_by", "defaults:\n  timeout: 5s\n  group_by: group\n", 3,
			[]string{"defaults.group_by", `"group"`, "alert", "notification"}},
		{"bad target group_by", "targets:\n  - name: a\n    type: file\n    path: x\n    group_by: Alert\n", 5,
			[]string{`target "a"`, "group_by", `"Alert"`}},
		{"negative defaults per_second", "defaults:\n  rate_limit:\n    burst: 1\n    per_second: -1\n", 4,
			[]string{"defaults.rate_limit.per_second", "-1"}},
		{"negative defaults burst", "defaults:\n  rate_limit:\n    burst: -2\n", 3,
			[]string{"defaults.rate_limit.burst", "negative"}},
		{"negative target per_second", "targets:\n  - name: a\n    type: file\n    path: x\n    rate_limit:\n      per_second: -0.5\n", 6,
			[]string{`target "a"`, "rate_limit.per_second"}},
		{"infinite target per_second", "targets:\n  - name: a\n    type: file\n    path: x\n    rate_limit: {per_second: .inf, burst: 1}\n", 5,
			[]string{"rate_limit.per_second", "+Inf"}},
		{"negative target burst", "targets:\n  - name: a\n    type: file\n    path: x\n    rate_limit:\n      per_second: 1\n      burst: -1\n", 7,
			[]string{`target "a"`, "rate_limit.burst", "negative"}},
		{"a limit without a burst", "targets:\n  - name: a\n    type: file\n    path: x\n    rate_limit:\n      per_second: 2\n", 6,
			[]string{`target "a"`, "burst must be at least 1", "per_second is 2"}},
		{"burst 0 under a limit", "targets:\n  - name: a\n    type: slack\n    url: " + pacingHook + "\n    rate_limit: {burst: 0}\n", 5,
			[]string{`target "a"`, "burst must be at least 1"}},
		{"a defaults limit without a burst, on an unlimited type", "defaults:\n  rate_limit: {per_second: 1}\ntargets:\n  - {name: a, type: file, path: x}\n", 4,
			[]string{`target "a"`, "burst must be at least 1"}},
		{"unknown key in rate_limit", "targets:\n  - name: a\n    type: file\n    path: x\n    rate_limit:\n      per_minute: 60\n", 6,
			[]string{`unknown field "per_minute"`, "per_second", "burst"}},
		{"per_second not a number", "targets:\n  - name: a\n    type: file\n    path: x\n    rate_limit: {per_second: fast}\n", 5,
			[]string{"fast"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := parseFixture(t, tt.content)
			require.Error(t, err, "config:\n%s", tt.content)
			prefix := path + ":" + strconv.Itoa(tt.line) + ": "
			assert.True(t, strings.HasPrefix(err.Error(), prefix), "error %q does not start with %q", err, prefix)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "XXXXSECRET", "the error repeats a secret")
		})
	}
}

func TestKeyChangesWithPacing(t *testing.T) {
	key := func(own string) string {
		t.Helper()
		cfg, err := Parse([]byte("targets:\n  - {name: s, url: "+pacingHook+", type: slack"+own+"}\n"), filepath.Join(t.TempDir(), "conf.yml"))
		require.NoError(t, err)
		return cfg.Targets[0].Key
	}
	base := key("")
	assert.Equal(t, base, key(", group_by: notification, rate_limit: {per_second: 1, burst: 3}"), "writing the defaults out changes nothing")
	assert.NotEqual(t, base, key(", group_by: alert"), "group_by is in the key")
	assert.NotEqual(t, base, key(", rate_limit: {per_second: 2}"), "per_second is in the key")
	assert.NotEqual(t, base, key(", rate_limit: {burst: 4}"), "burst is in the key")
	assert.NotContains(t, base, "XXXXSECRET")
}
