package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish/slack"
)

// parseChatTarget parses a config holding the one target block and returns
// that target, or the error.
func parseChatTarget(t *testing.T, dir, block string) (*core.Target, error) {
	t.Helper()
	cfg, err := Parse([]byte("targets:\n"+block), filepath.Join(dir, "am-fanout.yml"))
	if err != nil {
		return nil, err
	}
	if len(cfg.Targets) != 1 {
		t.Fatalf("parsed %d targets, want 1", len(cfg.Targets))
	}
	return cfg.Targets[0], nil
}

func writeChatSecret(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSlackConfig(t *testing.T) {
	const hook = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
	const token = "xoxb-123-456-SECRET"
	tests := []struct {
		name    string
		block   string
		wantErr []string // substrings of the error; nil means valid
		check   func(t *testing.T, s *slack.Config)
	}{
		{
			name:  "inline webhook url",
			block: "  - {name: s, type: slack, url: " + hook + "}\n",
			check: func(t *testing.T, s *slack.Config) {
				if string(s.URL) != hook || s.BotMode() {
					t.Errorf("got url %q bot %v, want the webhook url in webhook mode", s.URL, s.BotMode())
				}
			},
		},
		{
			name:  "webhook url from a file relative to the config",
			block: "  - {name: s, type: slack, url_file: hook.txt}\n",
			check: func(t *testing.T, s *slack.Config) {
				if string(s.URL) != hook || s.URLFile != "" {
					t.Errorf("got url %q url_file %q, want the file's trimmed content", s.URL, s.URLFile)
				}
			},
		},
		{
			name:  "bot token gets the default api url and thread ttl",
			block: "  - {name: s, type: slack, token: " + token + ", channel: C123}\n",
			check: func(t *testing.T, s *slack.Config) {
				if !s.BotMode() || s.APIURL != slack.SlackAPIURL || time.Duration(s.ThreadTTL) != 7*24*time.Hour {
					t.Errorf("got bot %v api_url %q ttl %v, want bot mode, %q, 168h", s.BotMode(), s.APIURL, s.ThreadTTL, slack.SlackAPIURL)
				}
				if s.HTTPConfig.FollowRedirects != true || !s.HTTPConfig.EnableHTTP2 {
					t.Errorf("http_config defaults not applied: %+v", s.HTTPConfig)
				}
			},
		},
		{
			name:  "bot token from a file, api url overridden without trailing slash",
			block: "  - {name: s, type: slack, token_file: token.txt, channel: '#alerts', api_url: 'http://127.0.0.1:1/api', thread_ttl: 1h, update_original: true}\n",
			check: func(t *testing.T, s *slack.Config) {
				if string(s.Token) != token || s.APIURL != "http://127.0.0.1:1/api/" || time.Duration(s.ThreadTTL) != time.Hour {
					t.Errorf("got token set %v api_url %q ttl %v", s.Token != "", s.APIURL, s.ThreadTTL)
				}
			},
		},
		{
			name:  "templates for title and text",
			block: "  - {name: s, type: slack, url: " + hook + ", templates: {title: '{{ .Alert.Labels.alertname }}', text: '{{ .Summary }}'}}\n",
		},
		{name: "neither url nor token", block: "  - {name: s, type: slack}\n", wantErr: []string{"one of url/url_file", "token/token_file"}},
		{name: "url and token", block: "  - {name: s, type: slack, url: " + hook + ", token: " + token + ", channel: C1}\n", wantErr: []string{"mutually exclusive"}},
		{name: "url and url_file", block: "  - {name: s, type: slack, url: " + hook + ", url_file: hook.txt}\n", wantErr: []string{"url, url_file", "mutually exclusive"}},
		{name: "missing secret file", block: "  - {name: s, type: slack, token_file: nope.txt, channel: C1}\n", wantErr: []string{"token_file", "reading secret file"}},
		{name: "bot without channel", block: "  - {name: s, type: slack, token: " + token + "}\n", wantErr: []string{"channel is required"}},
		{name: "user token refused", block: "  - {name: s, type: slack, token: xoxp-1-SECRET, channel: C1}\n", wantErr: []string{"bot token"}},
		{name: "webhook with channel", block: "  - {name: s, type: slack, url: " + hook + ", channel: C1}\n", wantErr: []string{"channel needs a bot token"}},
		{name: "webhook with update_original", block: "  - {name: s, type: slack, url: " + hook + ", update_original: true}\n", wantErr: []string{"update_original needs a bot token"}},
		{
			name:  "bot with reply_broadcast",
			block: "  - {name: s, type: slack, token: " + token + ", channel: C1, reply_broadcast: true}\n",
			check: func(t *testing.T, s *slack.Config) {
				if !s.ReplyBroadcast {
					t.Error("reply_broadcast not set")
				}
			},
		},
		{
			name:    "webhook with reply_broadcast, at its line",
			block:   "  - name: s\n    type: slack\n    url: " + hook + "\n    reply_broadcast: true\n",
			wantErr: []string{"am-fanout.yml:5:", "reply_broadcast needs a bot token"},
		},
		{name: "webhook url not http", block: "  - {name: s, type: slack, url: 'ftp://hooks.slack.com/services/SECRET'}\n", wantErr: []string{"url: scheme"}},
		{name: "bad api url", block: "  - {name: s, type: slack, token: " + token + ", channel: C1, api_url: 'slack.com/api'}\n", wantErr: []string{"api_url"}},
		{name: "negative thread ttl", block: "  - {name: s, type: slack, token: " + token + ", channel: C1, thread_ttl: -1h}\n", wantErr: []string{"thread_ttl"}},
		{name: "unknown template field", block: "  - {name: s, type: slack, url: " + hook + ", templates: {body: x}}\n", wantErr: []string{`unknown field "body"`, "allowed: text, title"}},
		{name: "template that does not parse", block: "  - {name: s, type: slack, url: " + hook + ", templates: {title: '{{ .Alert'}}\n", wantErr: []string{"templates.title"}},
		{name: "unknown key", block: "  - {name: s, type: slack, url: " + hook + ", chanel: C1}\n", wantErr: []string{"chanel"}},
		{name: "Alertmanager's default templates by name", block: "  - {name: s, type: slack, url: " + hook + ", templates: {title: '{{ template \"slack.default.title\" . }}'}}\n"},
		{name: "templated channel", block: "  - {name: s, type: slack, token: " + token + ", channel: '#team-{{ .CommonLabels.team }}'}\n"},
		{name: "channel template that does not parse", block: "  - {name: s, type: slack, token: " + token + ", channel: '#{{ .CommonLabels.team'}\n", wantErr: []string{"channel:"}},
		{name: "channel template over the alert, not Alertmanager's data", block: "  - {name: s, type: slack, token: " + token + ", channel: '#{{ .Alert.Labels.team }}'}\n", wantErr: []string{"channel:", "Alert"}},
		{name: "channel Slack cannot have", block: "  - {name: s, type: slack, token: " + token + ", channel: '#Team Alerts'}\n", wantErr: []string{"channel:", "neither a channel ID"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeChatSecret(t, dir, "hook.txt", hook+"\n")
			writeChatSecret(t, dir, "token.txt", "  "+token+"\n")
			tg, err := parseChatTarget(t, dir, tc.block)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if tc.check != nil {
					tc.check(t, tg.Spec.(*slack.Config))
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error holding %q, got none", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "SECRET") {
				t.Errorf("error %q reveals a secret", err)
			}
		})
	}
}
