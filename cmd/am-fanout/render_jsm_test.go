package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRenderShowsJSMUpdatesWithSecretsRedacted proves that render shows
// what a jsm target with update_alerts sends for a firing alert (the
// create, the REST API's lookup by alias and both updates, the alert id
// as a placeholder) and neither the API key, the REST API token nor the
// basic auth made of it.
func TestRenderShowsJSMUpdatesWithSecretsRedacted(t *testing.T) {
	dir := t.TempDir()
	const token = "ATATT3xFfGF0-rest-api-token-SECRET"
	cfg := `targets:
  - name: jsm-prod
    type: jsm
    api_key: eb243592-faa2-4ba2-a551-1afdf565c889
    update_alerts: true
    rest_api:
      cloud_id: c57406ca-2b5e-4b71-9f5c-1d3e2a7b8c90
      email: oncall-bot@example.com
      api_token_file: jsm-token
`
	firing := strings.NewReplacer(`"status": "resolved"`, `"status": "firing"`, `"endsAt": "2026-11-27T17:43:55Z"`, `"endsAt": "0001-01-01T00:00:00Z"`).Replace(resolvedPayload)
	cfgPath := filepath.Join(dir, "am-fanout.yml")
	payload := filepath.Join(dir, "payload.json")
	for path, body := range map[string]string{cfgPath: cfg, payload: firing, filepath.Join(dir, "jsm-token"): token + "\n"} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"render", "--config.file=" + cfgPath, "--payload=" + payload}, &stdout, &stderr); code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"POST /jsm/ops/integration/v2/alerts",
		"GET /jsm/ops/api/REDACTED/v1/alerts/alias?alias=1c5d859e845f39a3",
		"PATCH /jsm/ops/api/REDACTED/v1/alerts/JSM_ALERT_ID/message",
		"PATCH /jsm/ops/api/REDACTED/v1/alerts/JSM_ALERT_ID/description",
		"only the texts that differ",
		`{"message":"HighErrorRate: checkout answers 12% of requests with 5xx"}`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("render lacks %q:\n%s", want, out)
		}
	}
	basic := base64.StdEncoding.EncodeToString([]byte("oncall-bot@example.com:" + token))
	for _, secret := range []string{token, basic, "eb243592-faa2-4ba2-a551-1afdf565c889"} {
		if strings.Contains(out+stderr.String(), secret) {
			t.Errorf("render shows a secret %q:\n%s", secret, out)
		}
	}
}
