package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// resolvedPayload is an Alertmanager notification of one resolved alert.
const resolvedPayload = `{
  "version": "4", "receiver": "am-fanout", "status": "resolved",
  "groupKey": "{}:{alertname=\"HighErrorRate\"}",
  "groupLabels": {"alertname": "HighErrorRate"},
  "commonLabels": {"alertname": "HighErrorRate", "severity": "critical"},
  "externalURL": "http://alertmanager.example.com",
  "alerts": [{
    "status": "resolved",
    "labels": {"alertname": "HighErrorRate", "severity": "critical", "service": "checkout"},
    "annotations": {"summary": "checkout answers 12% of requests with 5xx"},
    "startsAt": "2026-11-27T17:33:55Z", "endsAt": "2026-11-27T17:43:55Z",
    "generatorURL": "http://prometheus.example.com/graph",
    "fingerprint": "1c5d859e845f39a3"
  }]
}`

// TestRenderShowsEveryTargetAfterARootlyResolve proves that a Rootly
// Alerts API resolve, whose alert id render cannot know, neither stops
// render nor hides the targets after it, and shows what it would send.
func TestRenderShowsEveryTargetAfterARootlyResolve(t *testing.T) {
	dir := t.TempDir()
	cfg := `targets:
  - name: rootly-api
    type: rootly
    mode: alerts_api
    api_url: http://127.0.0.1:1
    api_token: rootly-api-token-SECRET
  - name: ticketing
    type: webhook
    url: http://127.0.0.1:1/alerts
  - name: slack-ops
    type: slack
    url: http://127.0.0.1:1/services/T000/B000/slack-webhook-token-SECRET
  - name: audit
    type: file
    path: ` + filepath.Join(dir, "alerts.jsonl") + `
`
	cfgPath := filepath.Join(dir, "am-fanout.yml")
	payload := filepath.Join(dir, "payload.json")
	for path, body := range map[string]string{cfgPath: cfg, payload: resolvedPayload} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	code := run([]string{"render", "--config.file=" + cfgPath, "--payload=" + payload}, &stdout, &stderr)
	out := stdout.String()
	if code != 0 {
		t.Errorf("render: exit %d, want 0\nstderr: %s\nstdout: %s", code, stderr.String(), out)
	}
	for _, name := range []string{"rootly-api (rootly)", "ticketing (webhook)", "slack-ops (slack)", "audit (file)"} {
		if !strings.Contains(out, "### target "+name) {
			t.Errorf("render printed nothing for target %s:\n%s", name, out)
		}
	}
	// Slack defaults to group_by: notification: one message for the
	// notification, with Alertmanager's title.
	if !strings.Contains(out, "### target slack-ops (slack), the notification as one message (group_by: notification): 1 of 1 alerts") ||
		!strings.Contains(out, "[RESOLVED:1]") {
		t.Errorf("render does not show the group message of the chat target:\n%s", out)
	}
	for _, want := range []string{"no Rootly alert id is known", "POST /v1/alerts/ROOTLY_ALERT_ID/resolve", `"resolution_message"`} {
		if !strings.Contains(out, want) {
			t.Errorf("render does not show the Rootly resolve it would send once the id is known: lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out+stderr.String(), "SECRET") {
		t.Errorf("render shows a secret:\n%s\n%s", out, stderr.String())
	}
}

// A target whose URL is a secret shows only its scheme and host in
// render, however short the secret parts of its path and query are, and
// whether the URL is written inline or read from a *_file.
func TestRenderHidesSecretURLsPathAndQuery(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"hook-url":  "http://127.0.0.1:1/hooks/ab/cd?t=xy",
		"chat-url":  "http://127.0.0.1:2/services/T0/B0/short",
		"teams-url": "http://127.0.0.1:3/workflows/w1/triggers/manual/paths/invoke?api-version=1&sp=%2Fx&sv=1.0&sig=s1",
	}
	for name, v := range secrets {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := `targets:
  - {name: hook, type: webhook, url_file: hook-url}
  - {name: chat, type: slack, url_file: chat-url}
  - {name: teams, type: msteams, url_file: teams-url}
  - {name: inline, type: webhook, url: "http://127.0.0.1:4/in/line?k=v"}
`
	cfgPath := filepath.Join(dir, "am-fanout.yml")
	payload := filepath.Join(dir, "payload.json")
	for path, body := range map[string]string{cfgPath: cfg, payload: resolvedPayload} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"render", "--config.file=" + cfgPath, "--payload=" + payload}, &stdout, &stderr); code != 0 {
		t.Fatalf("render: exit %d\n%s", code, stderr.String())
	}
	out := stdout.String()
	for _, leak := range []string{"hooks/ab", "t=xy", "T0/B0", "short", "w1/triggers", "sig=s1", "in/line", "k=v"} {
		if strings.Contains(out, leak) {
			t.Errorf("render shows %q of a secret URL:\n%s", leak, out)
		}
	}
	for _, host := range []string{"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"} {
		if !strings.Contains(out, host) {
			t.Errorf("render does not show the host %s", host)
		}
	}
}
