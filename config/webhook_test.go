package config

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/webhook"
)

// Signing secrets in the Standard Webhooks form, "S3CRET" in every key.
const (
	signKeyA = "whsec_c2lnbmluZy1rZXktQS1TM0NSRVQtMDEyMzQ1Njc4OWFiY2Q=" // signing-key-A-S3CRET-0123456789abcd
	signKeyB = "whsec_c2lnbmluZy1rZXktQi1TM0NSRVQtMDEyMzQ1Njc4OWFiY2Q=" // signing-key-B-S3CRET-0123456789abcd
	// signKeyShort decodes to 16 bytes, under the specification's 24.
	signKeyShort = "whsec_c2hvcnQtUzNDUkVULWtleQ==" // short-S3CRET-key
)

func TestWebhookSigningConfig(t *testing.T) {
	tests := []struct {
		name        string
		files       map[string]string // relative to the config's directory
		target      string            // the lines of one target, after "targets:"
		wantSecrets []publish.Secret
		wantLine    int      // line of the error in conf.yml
		wantErr     []string // substrings of the error; nil means valid
	}{
		{
			name:   "no signing secret: unsigned",
			target: "  - name: w\n    type: webhook\n    url: http://x\n",
		},
		{
			name:        "inline secret",
			target:      "  - name: w\n    type: webhook\n    url: http://x\n    signing_secret: " + signKeyA + "\n",
			wantSecrets: []publish.Secret{signKeyA},
		},
		{
			name:        "file with two secrets for rotation, blank lines and spaces skipped",
			files:       map[string]string{"keys/sign": "\n  " + signKeyA + "  \n\n" + signKeyB + "\n"},
			target:      "  - name: w\n    type: webhook\n    url: http://x\n    signing_secret_file: keys/sign\n",
			wantSecrets: []publish.Secret{signKeyA, signKeyB},
		},
		{
			name:     "both inline and file",
			files:    map[string]string{"sign": signKeyA + "\n"},
			target:   "  - name: w\n    type: webhook\n    url: http://x\n    signing_secret: " + signKeyB + "\n    signing_secret_file: sign\n",
			wantLine: 5, wantErr: []string{"signing_secret, signing_secret_file", "mutually exclusive"},
		},
		{
			name:     "inline secret without whsec_",
			target:   "  - name: w\n    type: webhook\n    url: http://x\n    signing_secret: " + strings.TrimPrefix(signKeyA, "whsec_") + "\n",
			wantLine: 5, wantErr: []string{"signing_secret:", "whsec_ followed by the base64"},
		},
		{
			name:     "inline secret that is not base64",
			target:   "  - name: w\n    type: webhook\n    url: http://x\n    signing_secret: whsec_S3CRET!not*base64\n",
			wantLine: 5, wantErr: []string{"signing_secret:", "not valid base64"},
		},
		{
			name:     "inline secret too short",
			target:   "  - name: w\n    type: webhook\n    url: http://x\n    signing_secret: " + signKeyShort + "\n",
			wantLine: 5, wantErr: []string{"signing_secret:", "16 bytes", "at least 24"},
		},
		{
			name:     "bad second line of the file, named by file and line",
			files:    map[string]string{"sign": signKeyA + "\n\nS3CRET-plain\n"},
			target:   "  - name: w\n    type: webhook\n    url: http://x\n    signing_secret_file: sign\n",
			wantLine: 5, wantErr: []string{"signing_secret_file: sign:3:", "whsec_"},
		},
		{
			name:     "empty file",
			files:    map[string]string{"sign": "\n \n"},
			target:   "  - name: w\n    type: webhook\n    url: http://x\n    signing_secret_file: sign\n",
			wantLine: 5, wantErr: []string{"signing_secret_file: sign holds no secret"},
		},
		{
			name:     "missing file",
			target:   "  - name: w\n    type: webhook\n    url: http://x\n    signing_secret_file: nope\n",
			wantLine: 5, wantErr: []string{"signing_secret_file: reading secret file", "nope"},
		},
		{
			name:     "the resolved list is not a key of the file",
			target:   "  - name: w\n    type: webhook\n    url: http://x\n    signing_secrets: [" + signKeyA + "]\n",
			wantLine: 5, wantErr: []string{"signing_secrets"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				writeFixture(t, dir, name, content)
			}
			path := filepath.Join(dir, "conf.yml")
			cfg, err := Parse([]byte("targets:\n"+tt.target), path)
			if tt.wantErr == nil {
				require.NoError(t, err)
				w := cfg.Targets[0].Spec.(*webhook.Config)
				assert.Equal(t, tt.wantSecrets, w.SigningSecrets, "the secrets read, in order")
				return
			}
			require.Error(t, err)
			prefix := path + ":" + strconv.Itoa(tt.wantLine) + ": "
			assert.True(t, strings.HasPrefix(err.Error(), prefix), "error %q must start with %q", err, prefix)
			for _, want := range tt.wantErr {
				assert.Contains(t, err.Error(), want)
			}
			for _, leak := range []string{"S3CRET", signKeyA[6:], signKeyB[6:], signKeyShort[6:]} {
				assert.NotContains(t, err.Error(), leak, "the error reveals a signing secret")
			}
		})
	}
}

// TestWebhookSigningSecretsAreRedacted: the secrets show as <secret> when
// the config is marshalled, the resolved list not at all, and they leave
// the breaker's key alone.
func TestWebhookSigningSecretsAreRedacted(t *testing.T) {
	dir := t.TempDir()
	writeFixture(t, dir, "sign", signKeyA+"\n"+signKeyB+"\n")
	cfg, err := Parse([]byte(`targets:
  - name: inline
    type: webhook
    url: http://x
    signing_secret: `+signKeyA+`
  - name: from-file
    type: webhook
    url: http://x
    signing_secret_file: sign
`), filepath.Join(dir, "conf.yml"))
	require.NoError(t, err)
	var specs []string
	for _, tg := range cfg.Targets {
		asYAML, err := yaml.Marshal(tg.Spec)
		require.NoError(t, err)
		asJSON, err := json.Marshal(tg.Spec)
		require.NoError(t, err)
		specs = append(specs, string(asYAML))
		for name, out := range map[string]string{"YAML": string(asYAML), "JSON": string(asJSON)} {
			for _, s := range []string{signKeyA[6:], signKeyB[6:], "S3CRET"} {
				assert.NotContains(t, out, s, "target %s as %s shows a signing secret:\n%s", tg.Name, name, out)
			}
		}
	}
	assert.Contains(t, specs[0], "signing_secret: <secret>")
	assert.Contains(t, specs[1], "signing_secret_file: sign")
	for _, tg := range cfg.Targets {
		assert.NotContains(t, tg.Key, "S3CRET", "the key of %s holds a secret", tg.Name)
	}
}
