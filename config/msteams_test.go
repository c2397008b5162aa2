package config

import (
	"testing"

	"github.com/am-fanout/am-fanout/publish/msteams"
)

func TestMSTeamsConfig(t *testing.T) {
	dir := t.TempDir()
	const flowURL = "https://prod-00.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SECRETSIG"
	writeFileForTest(t, dir, "teams-url", flowURL+"\n")

	tests := []specCase[*msteams.Config]{
		{
			name: "inline url",
			yaml: "- {name: t, type: msteams, url: '" + flowURL + "'}\n",
			check: func(t *testing.T, m *msteams.Config) {
				if string(m.URL) != flowURL {
					t.Errorf("url = %q, want the inline value", m.URL)
				}
				if !m.HTTPConfig.FollowRedirects {
					t.Error("http_config defaults were not applied")
				}
			},
		},
		{
			name: "url_file relative to the config file, with templates",
			yaml: "- {name: t, type: msteams, url_file: teams-url, templates: {title: '{{ .Alert.Labels.alertname }}', text: x}}\n",
			check: func(t *testing.T, m *msteams.Config) {
				if string(m.URL) != flowURL || m.URLFile != "" {
					t.Errorf("url = %q (file %q), want the trimmed file content and the file cleared", m.URL, m.URLFile)
				}
			},
		},
		{
			name:    "url is required",
			yaml:    "- {name: t, type: msteams}\n",
			wantErr: []string{"one of url or url_file is required"},
		},
		{
			name:    "url and url_file are exclusive",
			yaml:    "- {name: t, type: msteams, url: 'https://x', url_file: teams-url}\n",
			wantErr: []string{"mutually exclusive"},
		},
		{
			name:    "missing url_file is an error",
			yaml:    "- {name: t, type: msteams, url_file: nope}\n",
			wantErr: []string{"reading secret file"},
		},
		{
			name:    "bad url is rejected without repeating it",
			yaml:    "- {name: t, type: msteams, url: 'mailto:SECRETSIG@example.com'}\n",
			wantErr: []string{"url: scheme must be http or https"},
		},
		{
			name:    "unknown template field",
			yaml:    "- {name: t, type: msteams, url: 'https://x', templates: {summary: x}}\n",
			wantErr: []string{`unknown field "summary"`, "text, title"},
		},
		{
			name:    "template that does not parse",
			yaml:    "- {name: t, type: msteams, url: 'https://x', templates: {title: '{{ .Alert'}}\n",
			wantErr: []string{"templates.title"},
		},
	}
	runSpecCases(t, dir, "SECRETSIG", tests)
}
