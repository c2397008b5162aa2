package config

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish/file"
	"github.com/am-fanout/am-fanout/publish/webhook"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// parseOneTarget parses a config file in dir holding the given targets
// list and returns its only target.
func parseOneTarget(t *testing.T, dir, targets string) (*core.Target, error) {
	t.Helper()
	cfg, err := Parse([]byte("targets:\n"+targets), filepath.Join(dir, "conf.yml"))
	if err != nil {
		return nil, err
	}
	require.Len(t, cfg.Targets, 1)
	return cfg.Targets[0], nil
}

func TestWebhookURL(t *testing.T) {
	abs := t.TempDir()
	absFile := writeFixture(t, abs, "hook-url", "https://abs.example.com/hook\n")
	tests := []struct {
		name    string
		files   map[string]string // relative to the config's directory
		target  string
		wantURL string
	}{
		{
			name:    "inline url",
			target:  "  - {name: w, type: webhook, url: 'https://hooks.example.com/a?token=t0k'}\n",
			wantURL: "https://hooks.example.com/a?token=t0k",
		},
		{
			name:    "url_file relative to the config file's directory, trimmed",
			files:   map[string]string{"secrets/hook-url": "  https://hooks.example.com/b?token=t0k \n\n"},
			target:  "  - {name: w, type: webhook, url_file: secrets/hook-url}\n",
			wantURL: "https://hooks.example.com/b?token=t0k",
		},
		{
			name:    "absolute url_file",
			target:  "  - {name: w, type: webhook, url_file: " + absFile + "}\n",
			wantURL: "https://abs.example.com/hook",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFixture(t, dir, name, content)
			}
			tg, err := parseOneTarget(t, dir, tt.target)
			require.NoError(t, err)
			w, ok := tg.Spec.(*webhook.Config)
			require.True(t, ok, "spec is %T, want *webhook.Config", tg.Spec)
			assert.Equal(t, tt.wantURL, string(w.URL))
			assert.Empty(t, w.URLFile, "url_file is consumed once read")
			assert.Equal(t, webhook.FormatAlertmanager, w.Format, "default format")
		})
	}
}

func TestSecretFileErrors(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, "empty", " \n\t\n")
	tests := []struct {
		name   string
		target string
		want   []string
	}{
		{"empty secret file", "  - {name: w, type: webhook, url_file: empty}\n", []string{"secret file empty is empty"}},
		{"missing secret file", "  - {name: w, type: webhook, url_file: nope}\n", []string{"reading secret file", "nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseOneTarget(t, dir, tt.target)
			require.Error(t, err)
			prefix := filepath.Join(dir, "conf.yml") + ":2: "
			assert.True(t, strings.HasPrefix(err.Error(), prefix), "error %q must start with %q", err, prefix)
			assert.Contains(t, err.Error(), `target "w"`)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestBadURLErrorsHoldNoSecret: a webhook URL often carries a token, so no
// error about it may repeat it.
func TestBadURLErrorsHoldNoSecret(t *testing.T) {
	const secret = "s3cr3t-t0k3n"
	tests := []struct {
		name     string
		url      string
		want     string
		fileOnly bool // YAML itself rejects the value inline
	}{
		{"wrong scheme", "ftp://user:" + secret + "@files.example.com/x", "scheme must be http or https", false},
		{"no scheme", "hooks.example.com/" + secret, "scheme must be http or https", false},
		{"no host", "https:///" + secret, "no host", false},
		{"unparsable", "http://[::1" + secret, "not a valid URL", false},
		{"control character", "https://hooks.example.com/" + secret + "\x7f", "not a valid URL", true},
	}
	for _, tt := range tests {
		for _, how := range []string{"inline", "url_file"} {
			if how == "inline" && tt.fileOnly {
				continue
			}
			t.Run(tt.name+"/"+how, func(t *testing.T) {
				dir := t.TempDir()
				target := "  - name: w\n    type: webhook\n    url: " + strings.ReplaceAll(yamlQuote(tt.url), "\n", "") + "\n"
				if how == "url_file" {
					writeFixture(t, dir, "u", tt.url)
					target = "  - {name: w, type: webhook, url_file: u}\n"
				}
				_, err := parseOneTarget(t, dir, target)
				require.Error(t, err, "url %q must be rejected", tt.url)
				assert.Contains(t, err.Error(), tt.want)
				assert.NotContains(t, err.Error(), secret, "the error repeats the URL's secret")
			})
		}
	}
}

// yamlQuote writes s as a double-quoted YAML scalar (JSON is YAML).
func yamlQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestFilePathResolvedAgainstConfigDir(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ path, want string }{
		{"alerts.jsonl", filepath.Join(dir, "alerts.jsonl")},
		{"data/alerts.jsonl", filepath.Join(dir, "data", "alerts.jsonl")},
		{"/var/log/alerts.jsonl", "/var/log/alerts.jsonl"},
	}
	for _, tt := range tests {
		tg, err := parseOneTarget(t, dir, "  - {name: f, type: file, path: "+tt.path+"}\n")
		require.NoError(t, err)
		assert.Equal(t, tt.want, tg.Spec.(*file.Config).Path, "path %q", tt.path)
	}
}

func TestDuplicateNamesInOneFile(t *testing.T) {
	_, path, err := parseFixture(t, `targets:
  - {name: audit, type: file, path: a}
  - {name: other, type: file, path: b}
  - {name: audit, type: file, path: c}
`)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `duplicate target name "audit"`)
	assert.Contains(t, err.Error(), path+":2", "the first definition must be named")
	assert.Contains(t, err.Error(), path+":4", "the second definition must be named")
}

func TestKeyChangesWithConfigurationNotSecrets(t *testing.T) {
	const base = "{name: w, type: webhook, url: 'https://a.example.com/x?token=one'}"
	key := func(t *testing.T, target string) string {
		t.Helper()
		tg, err := parseOneTarget(t, t.TempDir(), "  - "+target+"\n")
		require.NoError(t, err, "target %s", target)
		return tg.Key
	}
	baseKey := key(t, base)
	assert.Equal(t, baseKey, key(t, base), "the same configuration must give the same key")

	changed := map[string]string{
		"name":          "{name: w2, type: webhook, url: 'https://a.example.com/x?token=one'}",
		"timeout":       "{name: w, type: webhook, url: 'https://a.example.com/x?token=one', timeout: 2s}",
		"send_resolved": "{name: w, type: webhook, url: 'https://a.example.com/x?token=one', send_resolved: false}",
		"breaker":       "{name: w, type: webhook, url: 'https://a.example.com/x?token=one', breaker: {failures: 2}}",
		"match":         `{name: w, type: webhook, url: 'https://a.example.com/x?token=one', match: ['team="db"']}`,
		"format":        "{name: w, type: webhook, url: 'https://a.example.com/x?token=one', format: enriched}",
		"http_config":   "{name: w, type: webhook, url: 'https://a.example.com/x?token=one', http_config: {follow_redirects: false}}",
	}
	for field, target := range changed {
		assert.NotEqual(t, baseKey, key(t, target), "changing %s must change the key", field)
	}
	assert.Equal(t, baseKey, key(t, "{name: w, type: webhook, url: 'https://b.example.com/y?token=two'}"),
		"changing only a secret (the url) must keep the key")

	f1 := key(t, "{name: f, type: file, path: a.jsonl}")
	assert.NotEqual(t, f1, key(t, "{name: f, type: file, path: b.jsonl}"), "changing a file path must change the key")
	assert.NotEqual(t, f1, key(t, "{name: f, type: file, path: a.jsonl, fsync: true}"), "changing fsync must change the key")
}

func TestSecretsAreRedactedWhenMarshalled(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, "token", "file-s3cret\n")
	cfg, err := Parse([]byte(`receiver:
  bearer_token_file: token
targets:
  - name: w
    type: webhook
    url: https://hooks.example.com/x?token=url-s3cret
    http_config:
      authorization:
        credentials: auth-s3cret
`), filepath.Join(dir, "conf.yml"))
	require.NoError(t, err)
	require.Equal(t, "file-s3cret", string(cfg.Receiver.BearerToken), "the bearer token file is read")

	asYAML, err := yaml.Marshal(cfg)
	require.NoError(t, err)
	spec, err := yaml.Marshal(cfg.Targets[0].Spec)
	require.NoError(t, err)
	asJSON, err := json.Marshal(cfg)
	require.NoError(t, err)
	// Secret's MarshalJSON writes "<secret>" with JSON's HTML escapes.
	unescaped := strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(string(asJSON))
	for name, out := range map[string]string{"config as YAML": string(asYAML), "target as YAML": string(spec), "config as JSON": unescaped} {
		assert.NotContains(t, out, "s3cret", "%s leaks a secret:\n%s", name, out)
		assert.Contains(t, out, "<secret>", "%s must show secrets as <secret>:\n%s", name, out)
	}
	assert.Contains(t, string(spec), "url: <secret>")
	assert.NotContains(t, cfg.Targets[0].Key, "s3cret", "the key leaks a secret")
}
