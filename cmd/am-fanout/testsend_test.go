package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/publish/slack/slacktest"
)

// hook is a local webhook target that answers status with answer and
// keeps every Alertmanager payload it receives.
type hook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []hookPayload
}

type hookPayload struct {
	Status string `json:"status"`
	Alerts []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		Fingerprint string            `json:"fingerprint"`
	} `json:"alerts"`
}

func newHook(t *testing.T, status int, header http.Header, answer func(*http.Request) string) *hook {
	t.Helper()
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p hookPayload
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.mu.Lock()
		h.got = append(h.got, p)
		h.mu.Unlock()
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		if answer != nil {
			_, _ = io.WriteString(w, answer(r))
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hook) payloads() []hookPayload {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookPayload(nil), h.got...)
}

// runTestCommand runs `am-fanout test` on a config file holding config.
func runTestCommand(t *testing.T, config string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "am-fanout.yml")
	require.NoError(t, os.WriteFile(path, []byte(config), 0o600))
	var out, errOut bytes.Buffer
	code = run(append([]string{"test", "--config.file=" + path}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestTestSendDeliversAFiringTestAndItsResolve proves that `am-fanout
// test` sends the AmFanoutTest alert firing, then resolved, marked as a
// test, and reports both as delivered.
func TestTestSendDeliversAFiringTestAndItsResolve(t *testing.T) {
	h := newHook(t, http.StatusOK, nil, func(*http.Request) string { return "accepted by ticketing" })
	code, out, errOut := runTestCommand(t, "targets:\n"+webhookTarget("ticketing", h.srv.URL), "--target=ticketing")
	require.Equal(t, 0, code, "exit code\nstdout: %s\nstderr: %s", out, errOut)

	got := h.payloads()
	require.Len(t, got, 2, "the target must receive the test and its resolve")
	for i, status := range []string{"firing", "resolved"} {
		require.Len(t, got[i].Alerts, 1)
		a := got[i].Alerts[0]
		assert.Equal(t, status, got[i].Status, "delivery %d", i)
		assert.Equal(t, status, a.Status, "delivery %d", i)
		assert.Equal(t, "AmFanoutTest", a.Labels["alertname"])
		assert.Equal(t, "true", a.Labels["test"], "the alert is labelled as a test")
		assert.Equal(t, "info", a.Labels["severity"])
		assert.NotEmpty(t, a.Labels["test_id"])
		assert.Equal(t, "Test notification from am-fanout — ignore", a.Annotations["summary"])
	}
	assert.Equal(t, got[0].Alerts[0].Fingerprint, got[1].Alerts[0].Fingerprint, "the resolve is of the alert that fired")
	assert.Equal(t, 2, strings.Count(out, "outcome: delivered in "), out)
	assert.Contains(t, out, "answer: HTTP/1.1 200 OK", "the vendor's answer is printed")
	assert.Contains(t, out, "accepted by ticketing", "the vendor's answer body is printed")
	assert.Contains(t, out, "POST /REDACTED HTTP/1.1", "the request is printed, its secret URL shown by host only")
	assert.Contains(t, out, "SUCCESS")

	code, _, _ = runTestCommand(t, "targets:\n"+webhookTarget("ticketing", h.srv.URL), "--target=ticketing")
	require.Equal(t, 0, code)
	again := h.payloads()
	assert.NotEqual(t, got[0].Alerts[0].Fingerprint, again[2].Alerts[0].Fingerprint,
		"every test send needs its own fingerprint, or a vendor's dedup window swallows it")
}

// TestTestSendWithAPayload proves that --payload sends that payload's
// alerts, relabelled as tests, firing and then resolved, whatever their
// status in the file.
func TestTestSendWithAPayload(t *testing.T) {
	h := newHook(t, http.StatusOK, nil, nil)
	payload := filepath.Join(t.TempDir(), "payload.json")
	require.NoError(t, os.WriteFile(payload, []byte(resolvedPayload), 0o600))
	code, out, errOut := runTestCommand(t, "targets:\n"+webhookTarget("ticketing", h.srv.URL), "--target=ticketing", "--payload="+payload)
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	got := h.payloads()
	require.Len(t, got, 2)
	for i, status := range []string{"firing", "resolved"} {
		a := got[i].Alerts[0]
		assert.Equal(t, status, a.Status)
		assert.Equal(t, "HighErrorRate", a.Labels["alertname"], "the payload's labels are kept")
		assert.Equal(t, "checkout", a.Labels["service"])
		assert.Equal(t, "true", a.Labels["test"])
		assert.Equal(t, "Test notification from am-fanout — ignore: checkout answers 12% of requests with 5xx", a.Annotations["summary"])
		assert.NotEqual(t, "1c5d859e845f39a3", a.Fingerprint, "a test must not share the real alert's fingerprint")
	}
}

// TestTestSendToSlack sends the test through the Slack publisher to the
// Slack fake, and never prints the webhook URL's token.
func TestTestSendToSlack(t *testing.T) {
	fake := slacktest.NewSlack(t, "xoxb-unused")
	url := fake.URL() + "/services/T000/B000/slack-webhook-token-SECRET"
	code, out, errOut := runTestCommand(t, "targets:\n  - name: chat\n    type: slack\n    url: "+url+"\n", "--target=chat")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	calls := fake.Calls()
	require.Len(t, calls, 2, "Slack must receive the test and its resolve")
	for i, want := range []string{"[FIRING]", "[RESOLVED]"} {
		text, _ := calls[i].Msg["text"].(string)
		assert.Contains(t, text, want, "message %d", i)
		assert.Contains(t, text, "Test notification from am-fanout — ignore", "message %d is marked as a test", i)
	}
	assert.Contains(t, out, "answer: HTTP/1.1 200 OK")
	assert.Contains(t, out, "POST /REDACTED HTTP/1.1")
	assert.NotContains(t, out+errOut, "SECRET", "the webhook URL's token is printed")
}

// TestTestSendFailures: a target that fails makes the command exit 1 and
// say why, with the vendor's answer.
func TestTestSendFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		header http.Header
		answer string
		want   []string
	}{
		{"a 503 is a retryable failure with its Retry-After", http.StatusServiceUnavailable,
			http.Header{"Retry-After": {"30"}}, "down for maintenance",
			[]string{"retryable failure, HTTP 503, Retry-After 30s", "HTTP 503: down for maintenance", "Retry-After: 30"}},
		{"a 400 is a permanent failure", http.StatusBadRequest, nil, "unknown field",
			[]string{"permanent failure, HTTP 400", "HTTP 400: unknown field"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHook(t, tc.status, tc.header, func(*http.Request) string { return tc.answer })
			code, out, errOut := runTestCommand(t, "targets:\n"+webhookTarget("ticketing", h.srv.URL), "--target=ticketing")
			assert.Equal(t, 1, code, "a failing target must exit 1\nstdout: %s", out)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
			assert.Contains(t, errOut, `FAILED: test send to target "ticketing"`)
		})
	}
	t.Run("an unreachable target is a retryable failure", func(t *testing.T) {
		code, out, _ := runTestCommand(t, "targets:\n"+webhookTarget("gone", "http://127.0.0.1:1/alerts"), "--target=gone")
		assert.Equal(t, 1, code)
		assert.Contains(t, out, "no answer: ")
		assert.Contains(t, out, "outcome: retryable failure in ")
	})
}

// TestTestSendRedactsSecrets: neither the request nor the answer nor the
// error text shows a secret of the target, even when the vendor echoes
// it back.
func TestTestSendRedactsSecrets(t *testing.T) {
	echo := func(r *http.Request) string {
		return "you sent " + r.Header.Get("Authorization") + " to " + r.URL.String()
	}
	h := newHook(t, http.StatusBadRequest, nil, echo)
	config := "targets:\n  - name: ticketing\n    type: webhook\n    url: " + h.srv.URL + "/alerts?token=url-token-SECRET\n" +
		"    http_config:\n      authorization:\n        credentials: bearer-SECRET\n"
	code, out, errOut := runTestCommand(t, config, "--target=ticketing")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "you sent Bearer <secret>", "the answer is printed, redacted")
	assert.NotContains(t, out+errOut, "SECRET", "a secret is printed")
}

func TestTestSendRefusals(t *testing.T) {
	h := newHook(t, http.StatusOK, nil, nil)
	config := "targets:\n" + webhookTarget("ticketing", h.srv.URL) + webhookTarget("audit-hook", h.srv.URL)
	t.Run("an unknown target lists the known ones", func(t *testing.T) {
		code, _, errOut := runTestCommand(t, config, "--target=nope")
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, `no target named "nope"; the targets are: ticketing, audit-hook`)
	})
	t.Run("--target is required", func(t *testing.T) {
		code, _, errOut := runTestCommand(t, config)
		assert.Equal(t, 2, code)
		assert.Contains(t, errOut, "--target")
	})
	t.Run("a payload with no alerts", func(t *testing.T) {
		payload := filepath.Join(t.TempDir(), "empty.json")
		require.NoError(t, os.WriteFile(payload, []byte(`{"version":"4","alerts":[]}`), 0o600))
		code, _, errOut := runTestCommand(t, config, "--target=ticketing", "--payload="+payload)
		assert.Equal(t, 1, code)
		assert.Contains(t, errOut, "holds no alerts")
	})
	assert.Empty(t, h.payloads(), "a refused test send sends nothing")
}

// TestTestSendSkipsTheResolveWithoutSendResolved: a target that never
// receives resolves gets the firing test only, and that is a success.
func TestTestSendSkipsTheResolveWithoutSendResolved(t *testing.T) {
	h := newHook(t, http.StatusOK, nil, nil)
	config := "targets:\n" + webhookTarget("ticketing", h.srv.URL) + "    send_resolved: false\n    match: ['severity=\"critical\"']\n"
	code, out, errOut := runTestCommand(t, config, "--target=ticketing")
	require.Equal(t, 0, code, "stdout: %s\nstderr: %s", out, errOut)
	assert.Len(t, h.payloads(), 1)
	assert.Contains(t, out, "outcome: skipped: send_resolved is off")
	assert.Contains(t, out, `note: the target's matchers (severity="critical") do not select the test alert`)
}
