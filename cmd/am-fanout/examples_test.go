package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// exampleTargets writes the targets.yml of every example target Secret in
// examples/targets into a targets directory, and returns it with the
// Secrets' types by name.
func exampleTargets(t *testing.T) (dir string, types map[string]string) {
	t.Helper()
	files, err := filepath.Glob("../../examples/targets/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example target Secrets found: %v", err)
	}
	dir = t.TempDir()
	types = map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var secret struct {
			Kind       string            `yaml:"kind"`
			StringData map[string]string `yaml:"stringData"`
		}
		if err := yaml.Unmarshal(data, &secret); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		body, ok := secret.StringData["targets.yml"]
		if secret.Kind != "Secret" || !ok {
			t.Fatalf("%s: want a Secret with stringData targets.yml", f)
		}
		base := strings.TrimSuffix(filepath.Base(f), ".yaml")
		types[base] = base
		if err := os.WriteFile(filepath.Join(dir, base+".yml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, types
}

func emptyConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "am-fanout.yml")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestExampleConfigsAreValid(t *testing.T) {
	dir, types := exampleTargets(t)
	for _, cfg := range []string{"../../examples/am-fanout.yml", emptyConfig(t)} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"check-config", "--config.file=" + cfg, "--targets.dir=" + dir}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("check-config %s with examples/targets: exit %d\n%s", cfg, code, stderr.String())
		}
		for typ := range types {
			if !strings.Contains(stdout.String(), " "+typ+" ") {
				t.Errorf("check-config lists no %s target:\n%s", typ, stdout.String())
			}
		}
	}
}

func TestRenderEveryExampleTarget(t *testing.T) {
	dir, types := exampleTargets(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"render", "--config.file=" + emptyConfig(t), "--targets.dir=" + dir,
		"--payload=../../examples/payload.json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr.String())
	}
	out := stdout.String()
	for typ := range types {
		if !strings.Contains(out, "("+typ+")") {
			t.Errorf("render printed nothing for the %s target", typ)
		}
	}
	for _, want := range []string{"POST ", "User-Agent: am-fanout/", "Content-Type: application/"} {
		if !strings.Contains(out, want) {
			t.Errorf("render output lacks %q", want)
		}
	}
	for _, secret := range exampleSecrets(t, dir) {
		if strings.Contains(out, secret) {
			t.Errorf("render output shows the secret %q", secret)
		}
	}
}

// exampleSecrets returns the secret values the example targets configure.
func exampleSecrets(t *testing.T, dir string) []string {
	t.Helper()
	keys := map[string]bool{"url": true, "token": true, "routing_key": true, "api_key": true, "secret": true, "api_token": true}
	var out []string
	files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		var doc struct {
			Targets []map[string]any `yaml:"targets"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatal(err)
		}
		for _, tg := range doc.Targets {
			if tg["type"] == "webhook" || tg["type"] == "file" {
				continue
			}
			for k, v := range tg {
				if s, ok := v.(string); ok && keys[k] && s != "" {
					out = append(out, s)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("found no secrets in the example targets: the test would prove nothing")
	}
	return out
}

func TestRedactedURLParts(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/services/T024BE7LD/B01234567/abcdefghijklmnopqrstuvwx", "/services/T024BE7LD/B01234567/REDACTED"},
		{"/v2/enqueue", "/v2/enqueue"},
		{"/webhooks/incoming/alertmanager_webhooks", "/webhooks/incoming/alertmanager_webhooks"},
		{"/api/webhooks/123456789012345678/" + strings.Repeat("t", 68), "/api/webhooks/123456789012345678/REDACTED"},
	}
	for _, tt := range tests {
		if got := redactedPath(tt.path); got != tt.want {
			t.Errorf("redactedPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	q, _ := url.ParseQuery("api-version=2016-06-01&sig=abc&sp=%2Ftriggers")
	if got := redactedQuery(q); strings.Contains(got, "abc") || !strings.Contains(got, "api-version=2016-06-01") {
		t.Errorf("redactedQuery = %q: the signature must go, the rest stay", got)
	}
}
