package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish/pagerduty"
)

const testPagerDutyKey = "0123456789abcdef0123456789abcdef"

// parsePagerDuty parses a config holding one pagerduty target whose block
// is body (indented under the target), in dir.
func parsePagerDuty(t *testing.T, dir, body string) (*pagerduty.Config, error) {
	t.Helper()
	yml := "targets:\n  - name: pd\n    type: pagerduty\n" + body
	path := filepath.Join(dir, "am-fanout.yml")
	cfg, err := Parse([]byte(yml), path)
	if err != nil {
		return nil, err
	}
	return cfg.Targets[0].Spec.(*pagerduty.Config), nil
}

func TestPagerDutyConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pd-key"), []byte(testPagerDutyKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		body    string
		wantErr string
		check   func(t *testing.T, p *pagerduty.Config)
	}{
		{
			name: "inline key gets the US endpoint and the label defaults",
			body: "    routing_key: " + testPagerDutyKey + "\n",
			check: func(t *testing.T, p *pagerduty.Config) {
				if p.URL != pagerduty.PagerDutyURL {
					t.Errorf("url = %q, want the default %q", p.URL, pagerduty.PagerDutyURL)
				}
				if p.ComponentLabel != "service" || p.GroupLabel != "job" || p.ClassLabel != "alertname" {
					t.Errorf("labels = %q/%q/%q, want service/job/alertname", p.ComponentLabel, p.GroupLabel, p.ClassLabel)
				}
				if p.Client != "am-fanout" {
					t.Errorf("client = %q, want am-fanout", p.Client)
				}
			},
		},
		{
			name: "key file is read, trimmed and anchored at the config folder",
			body: "    routing_key_file: pd-key\n",
			check: func(t *testing.T, p *pagerduty.Config) {
				if string(p.RoutingKey) != testPagerDutyKey {
					t.Errorf("routing key from file = %q, want %q", p.RoutingKey, testPagerDutyKey)
				}
			},
		},
		{
			name: "region eu selects the EU endpoint",
			body: "    routing_key: " + testPagerDutyKey + "\n    region: eu\n",
			check: func(t *testing.T, p *pagerduty.Config) {
				if p.URL != pagerduty.PagerDutyEUURL {
					t.Errorf("url = %q, want %q", p.URL, pagerduty.PagerDutyEUURL)
				}
			},
		},
		{
			name: "url overrides the region",
			body: "    routing_key: " + testPagerDutyKey + "\n    region: eu\n    url: http://127.0.0.1:8080/v2/enqueue\n",
			check: func(t *testing.T, p *pagerduty.Config) {
				if p.URL != "http://127.0.0.1:8080/v2/enqueue" {
					t.Errorf("url = %q, want the configured one", p.URL)
				}
			},
		},
		{
			name: "an empty label option leaves the field out",
			body: "    routing_key: " + testPagerDutyKey + "\n    component_label: ''\n",
			check: func(t *testing.T, p *pagerduty.Config) {
				if p.ComponentLabel != "" {
					t.Errorf("component_label = %q, want empty", p.ComponentLabel)
				}
			},
		},
		{name: "missing key", body: "    region: us\n", wantErr: "one of routing_key or routing_key_file is required"},
		{name: "key and key file", body: "    routing_key: " + testPagerDutyKey + "\n    routing_key_file: pd-key\n", wantErr: "mutually exclusive"},
		{name: "short key", body: "    routing_key: tooshort\n", wantErr: "must be the 32-character integration key, got 8"},
		{name: "unknown region", body: "    routing_key: " + testPagerDutyKey + "\n    region: apac\n", wantErr: `region "apac"`},
		{name: "bad url", body: "    routing_key: " + testPagerDutyKey + "\n    url: ftp://x\n", wantErr: "url: scheme must be http or https"},
		{name: "bad severity key", body: "    routing_key: " + testPagerDutyKey + "\n    severity_map: {page: critical}\n", wantErr: `severity_map: key "page"`},
		{name: "bad severity value", body: "    routing_key: " + testPagerDutyKey + "\n    severity_map: {warning: high}\n", wantErr: `severity_map.warning: "high"`},
		{name: "image over http", body: "    routing_key: " + testPagerDutyKey + "\n    images: [{src: 'http://x/a.png'}]\n", wantErr: "images[0]: src must be an https URL"},
		{name: "bad template field", body: "    routing_key: " + testPagerDutyKey + "\n    templates: {title: x}\n", wantErr: `unknown field "title"`},
		{name: "template that does not parse", body: "    routing_key: " + testPagerDutyKey + "\n    templates: {summary: '{{ .Alert'}\n", wantErr: "templates.summary"},
		{name: "unknown key", body: "    routing_key: " + testPagerDutyKey + "\n    service_key: x\n", wantErr: "service_key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parsePagerDuty(t, dir, tc.body)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error holding %q, got %v", tc.wantErr, err)
				}
				if strings.Contains(err.Error(), testPagerDutyKey) {
					t.Errorf("error %q reveals the routing key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("want no error, got %v", err)
			}
			tc.check(t, p)
		})
	}
}
