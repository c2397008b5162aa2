package config

import (
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish/discord"
)

func TestDiscordConfig(t *testing.T) {
	const hook = "https://discord.com/api/webhooks/123/SECRETTOKEN"
	tests := []struct {
		name    string
		block   string
		wantErr []string // substrings of the error; nil means valid
		check   func(t *testing.T, d *discord.Config)
	}{
		{
			name:  "inline url gets the default username",
			block: "  - {name: d, type: discord, url: " + hook + "}\n",
			check: func(t *testing.T, d *discord.Config) {
				if string(d.URL) != hook || d.Username != discord.DefaultDiscordUsername {
					t.Errorf("got url %q username %q, want the url and %q", d.URL, d.Username, discord.DefaultDiscordUsername)
				}
				if !d.HTTPConfig.FollowRedirects || !d.HTTPConfig.EnableHTTP2 {
					t.Errorf("http_config defaults not applied: %+v", d.HTTPConfig)
				}
			},
		},
		{
			name:  "url from a file, username and avatar set",
			block: "  - {name: d, type: discord, url_file: hook.txt, username: Prometheus, avatar_url: 'https://example.com/a.png'}\n",
			check: func(t *testing.T, d *discord.Config) {
				if string(d.URL) != hook || d.Username != "Prometheus" || d.AvatarURL != "https://example.com/a.png" {
					t.Errorf("got url %q username %q avatar %q", d.URL, d.Username, d.AvatarURL)
				}
			},
		},
		{
			name:  "templates for title, description and content",
			block: "  - {name: d, type: discord, url: " + hook + ", templates: {title: x, description: y, content: z}}\n",
		},
		{
			name:  "thread_name for a forum channel, as a template",
			block: "  - {name: d, type: discord, url: " + hook + ", thread_name: '{{ .Alert.Labels.alertname }}'}\n",
			check: func(t *testing.T, d *discord.Config) {
				if d.ThreadName != "{{ .Alert.Labels.alertname }}" || d.ThreadID != "" {
					t.Errorf("got thread_name %q thread_id %q", d.ThreadName, d.ThreadID)
				}
			},
		},
		{
			name:  "thread_id of an existing thread",
			block: "  - {name: d, type: discord, url: " + hook + ", thread_id: '1234567890123456789'}\n",
			check: func(t *testing.T, d *discord.Config) {
				if d.ThreadID != "1234567890123456789" {
					t.Errorf("got thread_id %q", d.ThreadID)
				}
			},
		},
		{name: "thread_name and thread_id", block: "  - {name: d, type: discord, url: " + hook + ", thread_name: x, thread_id: '12'}\n", wantErr: []string{"thread_name and thread_id are mutually exclusive"}},
		{name: "thread_id in the url and in thread_id", block: "  - {name: d, type: discord, url: '" + hook + "?thread_id=1', thread_id: '12'}\n", wantErr: []string{"thread_id", "url already holds a thread_id"}},
		{name: "thread_id in the url and thread_name", block: "  - {name: d, type: discord, url: '" + hook + "?thread_id=1', thread_name: x}\n", wantErr: []string{"thread_name", "url holds a thread_id"}},
		{name: "thread_id not a number", block: "  - {name: d, type: discord, url: " + hook + ", thread_id: general}\n", wantErr: []string{`thread_id "general" is not a Discord id`}},
		{name: "thread_name not a template", block: "  - {name: d, type: discord, url: " + hook + ", thread_name: '{{ .Alert'}\n", wantErr: []string{"thread_name: template"}},
		{name: "thread_name under templates", block: "  - {name: d, type: discord, url: " + hook + ", templates: {thread_name: x}}\n", wantErr: []string{`unknown field "thread_name"`}},
		{name: "missing url", block: "  - {name: d, type: discord}\n", wantErr: []string{"one of url or url_file is required"}},
		{name: "url and url_file", block: "  - {name: d, type: discord, url: " + hook + ", url_file: hook.txt}\n", wantErr: []string{"mutually exclusive"}},
		{name: "url not absolute", block: "  - {name: d, type: discord, url: 'discord.com/api/webhooks/1/SECRETTOKEN'}\n", wantErr: []string{"url: scheme"}},
		{name: "username naming discord", block: "  - {name: d, type: discord, url: " + hook + ", username: 'My Discord bot'}\n", wantErr: []string{"username", "discord"}},
		{name: "username too long", block: "  - {name: d, type: discord, url: " + hook + ", username: '" + strings.Repeat("a", 81) + "'}\n", wantErr: []string{"at most 80"}},
		{name: "bad avatar url", block: "  - {name: d, type: discord, url: " + hook + ", avatar_url: 'a.png'}\n", wantErr: []string{"avatar_url"}},
		{name: "unknown template field", block: "  - {name: d, type: discord, url: " + hook + ", templates: {text: x}}\n", wantErr: []string{`unknown field "text"`, "allowed: content, description, title"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeChatSecret(t, dir, "hook.txt", hook+"\n")
			tg, err := parseChatTarget(t, dir, tc.block)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if tc.check != nil {
					tc.check(t, tg.Spec.(*discord.Config))
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
