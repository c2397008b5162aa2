package config

import (
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish/rootly"
)

func TestRootlyConfig(t *testing.T) {
	dir := t.TempDir()
	writeFileForTest(t, dir, "rootly-secret", "file-secret\n")
	writeFileForTest(t, dir, "rootly-token", "  file-token \n")
	writeFileForTest(t, dir, "rootly-url", "https://webhooks.rootly.com/webhooks/incoming/alertmanager_webhooks/notify/Service/abc\n")

	tests := []specCase[*rootly.Config]{
		{
			name: "alertmanager mode is the default and fills Rootly's webhook URL",
			yaml: "- {name: r, type: rootly, secret: s3cr3t}\n",
			check: func(t *testing.T, r *rootly.Config) {
				if r.Mode != rootly.RootlyModeAlertmanager {
					t.Errorf("mode = %q, want %q", r.Mode, rootly.RootlyModeAlertmanager)
				}
				if string(r.URL) != rootly.RootlyDefaultWebhookURL {
					t.Errorf("url = %q, want the default %q", r.URL, rootly.RootlyDefaultWebhookURL)
				}
				if string(r.Secret) != "s3cr3t" {
					t.Errorf("secret = %q, want the inline value", r.Secret)
				}
				if !r.HTTPConfig.FollowRedirects || !r.HTTPConfig.EnableHTTP2 {
					t.Error("http_config defaults were not applied")
				}
			},
		},
		{
			name: "alertmanager mode reads url_file and secret_file relative to the config file",
			yaml: "- {name: r, type: rootly, url_file: rootly-url, secret_file: rootly-secret}\n",
			check: func(t *testing.T, r *rootly.Config) {
				if !strings.HasSuffix(string(r.URL), "/notify/Service/abc") {
					t.Errorf("url = %q, want the file's content", r.URL)
				}
				if string(r.Secret) != "file-secret" || r.SecretFile != "" {
					t.Errorf("secret = %q (file %q), want the trimmed file content and the file cleared", r.Secret, r.SecretFile)
				}
			},
		},
		{
			name:    "alertmanager mode needs the bearer secret",
			yaml:    "- {name: r, type: rootly}\n",
			wantErr: []string{"one of secret or secret_file is required"},
		},
		{
			name:    "secret and secret_file are exclusive",
			yaml:    "- {name: r, type: rootly, secret: x, secret_file: rootly-secret}\n",
			wantErr: []string{"secret, secret_file", "mutually exclusive"},
		},
		{
			name:    "alertmanager mode rejects templates it would not use",
			yaml:    "- {name: r, type: rootly, secret: x, templates: {summary: x}}\n",
			wantErr: []string{"templates apply to mode alerts_api only"},
		},
		{
			name:    "alertmanager mode rejects the API token",
			yaml:    "- {name: r, type: rootly, secret: x, api_token: y}\n",
			wantErr: []string{"belong to mode alerts_api"},
		},
		{
			name:    "bad URL is rejected without repeating it",
			yaml:    "- {name: r, type: rootly, secret: x, url: 'ftp://hidden-token@example.com'}\n",
			wantErr: []string{"url: scheme must be http or https"},
		},
		{
			name: "alerts_api mode defaults the API URL",
			yaml: "- {name: r, type: rootly, mode: alerts_api, api_token: tok}\n",
			check: func(t *testing.T, r *rootly.Config) {
				if r.APIURL != rootly.RootlyDefaultAPIURL {
					t.Errorf("api_url = %q, want %q", r.APIURL, rootly.RootlyDefaultAPIURL)
				}
				if string(r.APIToken) != "tok" {
					t.Errorf("api_token = %q, want the inline value", r.APIToken)
				}
			},
		},
		{
			name: "alerts_api mode reads api_token_file and trims a trailing slash off api_url",
			yaml: "- {name: r, type: rootly, mode: alerts_api, api_url: 'http://127.0.0.1:8080/', api_token_file: rootly-token,\n" +
				"   notification_target_type: EscalationPolicy, notification_target_id: ep-1,\n" +
				"   templates: {summary: '{{ .Alert.Labels.alertname }}', description: x}}\n",
			check: func(t *testing.T, r *rootly.Config) {
				if r.APIURL != "http://127.0.0.1:8080" {
					t.Errorf("api_url = %q, want no trailing slash", r.APIURL)
				}
				if string(r.APIToken) != "file-token" {
					t.Errorf("api_token = %q, want the trimmed file content", r.APIToken)
				}
			},
		},
		{
			name:    "alerts_api mode needs the API token",
			yaml:    "- {name: r, type: rootly, mode: alerts_api}\n",
			wantErr: []string{"one of api_token or api_token_file is required"},
		},
		{
			name:    "alerts_api mode rejects the alert source fields",
			yaml:    "- {name: r, type: rootly, mode: alerts_api, api_token: t, secret: s}\n",
			wantErr: []string{"belong to mode alertmanager"},
		},
		{
			name:    "notification target needs both fields",
			yaml:    "- {name: r, type: rootly, mode: alerts_api, api_token: t, notification_target_type: Service}\n",
			wantErr: []string{"go together"},
		},
		{
			name:    "notification target type must be one Rootly knows",
			yaml:    "- {name: r, type: rootly, mode: alerts_api, api_token: t, notification_target_type: Team, notification_target_id: x}\n",
			wantErr: []string{`notification_target_type "Team"`, "EscalationPolicy"},
		},
		{
			name:    "unknown template field is named",
			yaml:    "- {name: r, type: rootly, mode: alerts_api, api_token: t, templates: {title: x}}\n",
			wantErr: []string{`unknown field "title"`, "description, summary"},
		},
		{
			name:    "unknown mode is rejected",
			yaml:    "- {name: r, type: rootly, mode: incidents, secret: x}\n",
			wantErr: []string{`mode "incidents" is not one of alertmanager, alerts_api`},
		},
	}
	runSpecCases(t, dir, "hidden-token", tests)
}
