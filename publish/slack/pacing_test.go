package slack

import (
	"testing"

	"github.com/am-fanout/am-fanout/publish"
)

func TestSlackScopeIsTheChannel(t *testing.T) {
	scope := func(c Config) string { return c.DefaultRateLimit().Scope }
	hook := Config{URL: "https://hooks.slack.com/services/T0/B0/SECRET"}
	bot := func(token, channel string) Config { return Config{Token: publish.Secret(token), Channel: channel} }
	tests := []struct {
		name string
		a, b Config
		same bool
	}{
		{name: "one webhook", a: hook, b: hook, same: true},
		{name: "two webhooks", a: hook, b: Config{URL: "https://hooks.slack.com/services/T0/B1/OTHER"}},
		{name: "one bot, one channel", a: bot("xoxb-1", "C1"), b: bot("xoxb-1", "C1"), same: true},
		{name: "one bot, two channels", a: bot("xoxb-1", "C1"), b: bot("xoxb-1", "C2")},
		{name: "two workspaces' bots", a: bot("xoxb-1", "C1"), b: bot("xoxb-2", "C1")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := scope(tc.a) == scope(tc.b); got != tc.same {
				t.Errorf("same scope = %v, want %v", got, tc.same)
			}
		})
	}
}
