package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/publish/webhook"
)

// TestRenderRedactsWebhookSigningSecrets: render shows the Standard
// Webhooks headers of a signed webhook target, never its signing secrets,
// and its redaction knows them as secrets.
func TestRenderRedactsWebhookSigningSecrets(t *testing.T) {
	const (
		current = "whsec_c2lnbmluZy1rZXktQS1TM0NSRVQtMDEyMzQ1Njc4OWFiY2Q="
		retired = "whsec_c2lnbmluZy1rZXktQi1TM0NSRVQtMDEyMzQ1Njc4OWFiY2Q="
	)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "am-fanout.yml")
	payload := filepath.Join(dir, "payload.json")
	for path, body := range map[string]string{
		cfgPath:                    "targets:\n  - {name: signed, type: webhook, url: 'http://127.0.0.1:1/alerts', signing_secret_file: keys}\n",
		filepath.Join(dir, "keys"): current + "\n" + retired + "\n",
		payload:                    resolvedPayload,
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"render", "--config.file=" + cfgPath, "--payload=" + payload}, &stdout, &stderr); code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, h := range []string{"Webhook-Id: msg_", "Webhook-Timestamp: ", "Webhook-Signature: v1,"} {
		if !strings.Contains(out, h) {
			t.Errorf("render shows no %q header:\n%s", h, out)
		}
	}
	for _, s := range []string{current, retired} {
		if strings.Contains(out+stderr.String(), strings.TrimPrefix(s, "whsec_")) {
			t.Errorf("render shows a signing secret:\n%s", out)
		}
	}

	cfg, err := config.LoadFile(cfgPath, "")
	if err != nil {
		t.Fatal(err)
	}
	secrets := secretsOf(cfg.Targets[0].Spec.(*webhook.Config))
	if !slices.Contains(secrets, current) || !slices.Contains(secrets, retired) {
		t.Errorf("render's redaction does not know the signing secrets as secrets")
	}
}
