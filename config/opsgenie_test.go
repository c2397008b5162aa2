package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish/opsgenie"
)

const testOpsgenieKey = "eb243592-faa2-4ba2-a551-1afdf565c889"

// parseOpsgenie parses a config holding one opsgenie target whose block
// is body (indented under the target), in dir.
func parseOpsgenie(t *testing.T, dir, body string) (*opsgenie.Config, error) {
	t.Helper()
	yml := "targets:\n  - name: og\n    type: opsgenie\n" + body
	cfg, err := Parse([]byte(yml), filepath.Join(dir, "am-fanout.yml"))
	if err != nil {
		return nil, err
	}
	return cfg.Targets[0].Spec.(*opsgenie.Config), nil
}

func TestOpsgenieConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "og-key"), []byte(testOpsgenieKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := "    api_key: " + testOpsgenieKey + "\n"
	tests := []struct {
		name    string
		body    string
		wantErr string
		check   func(t *testing.T, o *opsgenie.Config)
	}{
		{
			name: "inline key gets the US API",
			body: key,
			check: func(t *testing.T, o *opsgenie.Config) {
				if o.URL != opsgenie.OpsgenieURL {
					t.Errorf("url = %q, want the default %q", o.URL, opsgenie.OpsgenieURL)
				}
			},
		},
		{
			name: "key file is read and trimmed",
			body: "    api_key_file: og-key\n",
			check: func(t *testing.T, o *opsgenie.Config) {
				if string(o.APIKey) != testOpsgenieKey {
					t.Errorf("api key from file = %q, want %q", o.APIKey, testOpsgenieKey)
				}
			},
		},
		{
			name: "region eu selects the EU API",
			body: key + "    region: eu\n",
			check: func(t *testing.T, o *opsgenie.Config) {
				if o.URL != opsgenie.OpsgenieEUURL {
					t.Errorf("url = %q, want %q", o.URL, opsgenie.OpsgenieEUURL)
				}
			},
		},
		{
			name: "every documented responder shape is accepted",
			body: key + "    responders:\n" +
				"      - {type: team, name: NOC}\n      - {type: team, id: 4513b7ea}\n" +
				"      - {type: user, username: trinity@example.com}\n      - {type: user, id: bb4d9938}\n" +
				"      - {type: escalation, name: Nightwatch}\n      - {type: schedule, id: aee8a0de}\n" +
				"    visible_to: [{type: team, name: rocket}]\n",
			check: func(t *testing.T, o *opsgenie.Config) {
				if len(o.Responders) != 6 || len(o.VisibleTo) != 1 {
					t.Errorf("got %d responders and %d visible_to, want 6 and 1", len(o.Responders), len(o.VisibleTo))
				}
			},
		},
		{
			name: "update_alerts is off by default and can be turned on",
			body: key + "    update_alerts: true\n",
			check: func(t *testing.T, o *opsgenie.Config) {
				if !o.UpdateAlerts {
					t.Error("update_alerts: true was not read")
				}
			},
		},
		{name: "missing key", body: "    region: us\n", wantErr: "one of api_key or api_key_file is required"},
		{name: "key and key file", body: key + "    api_key_file: og-key\n", wantErr: "mutually exclusive"},
		{name: "unknown region", body: key + "    region: apac\n", wantErr: `region "apac"`},
		{name: "bad url", body: key + "    url: not a url\n", wantErr: "url:"},
		{name: "responder without type", body: key + "    responders: [{name: NOC}]\n", wantErr: `responders[0]: type ""`},
		{name: "team by username", body: key + "    responders: [{type: team, username: x}]\n", wantErr: "username is only for users"},
		{name: "user by name", body: key + "    responders: [{type: user, name: x}]\n", wantErr: "id or username, not name"},
		{name: "team by id and name", body: key + "    responders: [{type: team, id: a, name: b}]\n", wantErr: "exactly one of id or name"},
		{name: "schedule cannot see", body: key + "    visible_to: [{type: schedule, id: a}]\n", wantErr: `visible_to[0]: type "schedule"`},
		{name: "tag too long", body: key + "    tags: [" + strings.Repeat("x", 51) + "]\n", wantErr: "tags[0]: must be 1 to 50"},
		{name: "too many tags", body: key + "    tags: [" + strings.Repeat("t,", 20) + "t]\n", wantErr: "tags: at most 20, got 21"},
		{name: "bad priority", body: key + "    priority_map: {critical: P0}\n", wantErr: `priority_map.critical: "P0"`},
		{name: "bad priority key", body: key + "    priority_map: {high: P1}\n", wantErr: `priority_map: key "high"`},
		{name: "entity too long", body: key + "    entity: " + strings.Repeat("e", 513) + "\n", wantErr: "entity: at most 512"},
		{name: "bad template field", body: key + "    templates: {title: x}\n", wantErr: `unknown field "title"`},
		{name: "template that does not parse", body: key + "    templates: {message: '{{ if }}'}\n", wantErr: "templates.message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOpsgenie(t, dir, tc.body)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error holding %q, got %v", tc.wantErr, err)
				}
				if strings.Contains(err.Error(), testOpsgenieKey) {
					t.Errorf("error %q reveals the API key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("want no error, got %v", err)
			}
			tc.check(t, o)
		})
	}
}
