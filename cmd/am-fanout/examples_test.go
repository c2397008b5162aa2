package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// exampleTargets writes the targets.yml of every example target Secret in
// examples/targets into a targets directory, and returns it with the
// Secrets' types by name.
func exampleTargets(t *testing.T) (dir string, types map[string]string) {
	t.Helper()
	files, err := filepath.Glob("../../examples/targets/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files, "no example target Secrets found")
	dir = t.TempDir()
	types = map[string]string{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var secret struct {
			Kind       string            `yaml:"kind"`
			StringData map[string]string `yaml:"stringData"`
		}
		require.NoError(t, yaml.Unmarshal(data, &secret), f)
		body, ok := secret.StringData["targets.yml"]
		require.True(t, secret.Kind == "Secret" && ok, "%s: want a Secret with stringData targets.yml", f)
		base := strings.TrimSuffix(filepath.Base(f), ".yaml")
		types[base] = base
		require.NoError(t, os.WriteFile(filepath.Join(dir, base+".yml"), []byte(body), 0o600))
	}
	return dir, types
}

func emptyConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "am-fanout.yml")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	return path
}

func TestExampleConfigsAreValid(t *testing.T) {
	dir, types := exampleTargets(t)
	for _, cfg := range []string{"../../examples/am-fanout.yml", emptyConfig(t)} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"check-config", "--config.file=" + cfg, "--targets.dir=" + dir}, &stdout, &stderr)
		require.Zero(t, code, "check-config %s with examples/targets: exit %d\n%s", cfg, code, stderr.String())
		for typ := range types {
			assert.Contains(t, stdout.String(), " "+typ+" ", "check-config lists no %s target", typ)
		}
	}
}

func TestRenderEveryExampleTarget(t *testing.T) {
	dir, types := exampleTargets(t)
	var stdout, stderr bytes.Buffer
	code := run([]string{"render", "--config.file=" + emptyConfig(t), "--targets.dir=" + dir,
		"--payload=../../examples/payload.json"}, &stdout, &stderr)
	require.Zero(t, code, "render: exit %d\n%s", code, stderr.String())
	out := stdout.String()
	for typ := range types {
		assert.Contains(t, out, "("+typ+")", "render printed nothing for the %s target", typ)
	}
	for _, want := range []string{"POST ", "User-Agent: am-fanout/", "Content-Type: application/"} {
		assert.Contains(t, out, want, "render output lacks it")
	}
	for _, secret := range exampleSecrets(t, dir) {
		assert.NotContains(t, out, secret, "render output shows a secret")
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
		require.NoError(t, yaml.Unmarshal(data, &doc), f)
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
	require.NotEmpty(t, out, "found no secrets in the example targets: the test would prove nothing")
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
		assert.Equal(t, tt.want, redactedPath(tt.path), "redactedPath(%q)", tt.path)
	}
	q, _ := url.ParseQuery("api-version=2016-06-01&sig=abc&sp=%2Ftriggers")
	got := redactedQuery(q)
	assert.NotContains(t, got, "abc", "redactedQuery must drop the signature")
	assert.Contains(t, got, "api-version=2016-06-01", "redactedQuery must keep the rest")
}
