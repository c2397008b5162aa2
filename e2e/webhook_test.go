package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/am-fanout/am-fanout/core"
)

// fileOnlyConfig delivers every alert to a file and nowhere else.
const fileOnlyConfig = `
targets:
  - name: audit
    type: file
    path: data/alerts.jsonl
`

// TestWebhookRejectsBadRequests sends /webhook what Alertmanager never
// would. Each gets a 4xx with a JSON error that says what is wrong, and
// nothing reaches a target.
func TestWebhookRejectsBadRequests(t *testing.T) {
	const limit = 4096
	f := startFanout(t, fileOnlyConfig, "--webhook.max-body-bytes=4096")

	valid := v4Payload(t, "firing", map[string]string{"alertname": "E2EBad"})
	wrongVersion := bytes.Replace(valid, []byte(`"version":"4"`), []byte(`"version":"3"`), 1)
	oversized := v4Payload(t, "firing", map[string]string{"alertname": "E2EBad", "padding": strings.Repeat("x", 4*limit)})

	tests := []struct {
		name   string
		method string
		body   []byte
		want   int
	}{
		{"malformed JSON is a bad request", http.MethodPost, []byte(`{"version":"4","alerts":[`), http.StatusBadRequest},
		{"payload version 3 is a bad request", http.MethodPost, wrongVersion, http.StatusBadRequest},
		{"a body over --webhook.max-body-bytes is too large", http.MethodPost, oversized, http.StatusRequestEntityTooLarge},
		{"GET is not allowed", http.MethodGet, nil, http.StatusMethodNotAllowed},
	}
	if bytes.Equal(wrongVersion, valid) {
		t.Fatalf("the test payload has no version field to change: %s", valid)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, f.url+"/webhook", bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s /webhook: %v", tt.method, err)
			}
			defer resp.Body.Close()
			var ans struct {
				Error string `json:"error"`
			}
			decodeErr := json.NewDecoder(resp.Body).Decode(&ans)
			if resp.StatusCode != tt.want {
				t.Errorf("answered %s, want %d", resp.Status, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if decodeErr != nil || ans.Error == "" {
				t.Errorf("want a JSON body {\"error\": \"...\"} saying what is wrong; decoding gave %v, error %q", decodeErr, ans.Error)
			}
		})
	}

	for _, declared := range []bool{true, false} {
		name := fmt.Sprintf("a huge body is refused without being read to the end (Content-Length sent: %v)", declared)
		t.Run(name, func(t *testing.T) {
			const size = 64 << 20
			body := &paddedBody{prefix: []byte(`{"version":"4","alerts":[`), size: size}
			req, err := http.NewRequest(http.MethodPost, f.url+"/webhook", body)
			if err != nil {
				t.Fatal(err)
			}
			if declared {
				req.ContentLength = size
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("POST /webhook with %d bytes: %v", size, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("answered %s, want 413", resp.Status)
			}
			if sent := body.sent.Load(); sent > size/2 {
				t.Errorf("the client got to send %d of %d bytes before the answer; am-fanout should stop reading past its limit", sent, size)
			}
		})
	}
	t.Run("rejected requests are counted by code", func(t *testing.T) {
		fams := f.metrics(t)
		for code, want := range map[string]float64{"400": 2, "413": 3, "405": 1} {
			if v, _ := metricValue(fams, "am_fanout_webhook_requests_total", map[string]string{"code": code}); v != want {
				t.Errorf("am_fanout_webhook_requests_total{code=%q} = %v, want %v", code, v, want)
			}
		}
	})
	t.Run("nothing reached the file target", func(t *testing.T) {
		if lines := readJSONLines(t, filepath.Join(f.dir, "data", "alerts.jsonl")); len(lines) != 0 {
			t.Errorf("rejected requests wrote %d lines to the file target: %+v", len(lines), lines)
		}
	})
}

// TestExamplePayloadReachesExampleTargets runs am-fanout on the shipped
// example config and sends it the shipped example payload, as the README's
// quick start does.
func TestExamplePayloadReachesExampleTargets(t *testing.T) {
	cfg, err := os.ReadFile(filepath.Join(bins.root, "examples", "am-fanout.yml"))
	if err != nil {
		t.Fatalf("reading the example config: %v", err)
	}
	payload, err := os.ReadFile(filepath.Join(bins.root, "examples", "payload.json"))
	if err != nil {
		t.Fatalf("reading the example payload: %v", err)
	}
	var sent amMessage
	if err := json.Unmarshal(payload, &sent); err != nil {
		t.Fatalf("examples/payload.json is not an Alertmanager payload: %v", err)
	}
	f := startFanout(t, string(cfg))
	out := filepath.Join(f.dir, "data", "alerts.jsonl")

	t.Run("every alert is delivered to the file target", func(t *testing.T) {
		code, _, ans, raw := f.postWebhookWait(t, payload)
		if code != http.StatusOK {
			t.Fatalf("POST /webhook answered %d, want 200: %s", code, raw)
		}
		if len(ans.Alerts) != len(sent.Alerts) {
			t.Fatalf("the answer holds %d alerts, the payload %d: %s", len(ans.Alerts), len(sent.Alerts), raw)
		}
		for i, a := range ans.Alerts {
			if a.Fingerprint != sent.Alerts[i].Fingerprint || a.Status != sent.Alerts[i].Status {
				t.Errorf("answer %d is for %s %s, want %s %s", i, a.Fingerprint, a.Status, sent.Alerts[i].Fingerprint, sent.Alerts[i].Status)
			}
			checkResults(t, a.Result.Results, map[string]targetResult{"audit-log": {Type: "file", Result: "success"}}, raw)
		}
		lines := readJSONLines(t, out)
		if len(lines) != len(sent.Alerts) {
			t.Fatalf("the file target holds %d lines, want one per alert (%d)", len(lines), len(sent.Alerts))
		}
		for _, a := range sent.Alerts {
			l := findEnriched(lines, a.Labels["alertname"], core.AlertStatus(a.Status))
			if l == nil || l.Alert.Fingerprint != a.Fingerprint {
				t.Errorf("no line for %s %s (fingerprint %s): %+v", a.Labels["alertname"], a.Status, a.Fingerprint, lines)
			}
		}
	})
	t.Run("a resent notification is not delivered twice", func(t *testing.T) {
		code, _, ans, raw := f.postWebhookWait(t, payload)
		if code != http.StatusOK {
			t.Fatalf("POST /webhook answered %d, want 200: %s", code, raw)
		}
		for _, a := range ans.Alerts {
			checkResults(t, a.Result.Results, map[string]targetResult{
				"audit-log": {Type: "file", Result: "skipped", SkipReason: "already_delivered"},
			}, raw)
		}
		if lines := readJSONLines(t, out); len(lines) != len(sent.Alerts) {
			t.Errorf("the file target holds %d lines after the resend, want still %d", len(lines), len(sent.Alerts))
		}
	})
}

// paddedBody is a request body of size bytes, a JSON prefix and then
// blanks, that counts how much of it the client got to send.
type paddedBody struct {
	prefix []byte
	size   int64
	sent   atomic.Int64
}

func (b *paddedBody) Read(p []byte) (int, error) {
	off := b.sent.Load()
	if off >= b.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), b.size-off))
	for i := range n {
		if at := off + int64(i); at < int64(len(b.prefix)) {
			p[i] = b.prefix[at]
		} else {
			p[i] = ' '
		}
	}
	b.sent.Add(int64(n))
	return n, nil
}

// v4Payload builds the notification Alertmanager would send for one alert
// with these labels.
func v4Payload(t testing.TB, status string, labels map[string]string) []byte {
	t.Helper()
	ls := model.LabelSet{}
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	a := template.Alert{
		Status:      status,
		Labels:      labels,
		Annotations: template.KV{"summary": "sent by the end-to-end test"},
		StartsAt:    time.Now().Add(-time.Minute).UTC().Truncate(time.Second),
		Fingerprint: ls.Fingerprint().String(),
	}
	if status == "resolved" {
		a.EndsAt = time.Now().UTC().Truncate(time.Second)
	}
	body, err := json.Marshal(amMessage{
		Data: template.Data{
			Receiver: "am-fanout", Status: status, Alerts: template.Alerts{a},
			GroupLabels:       template.KV{"alertname": labels["alertname"]},
			CommonLabels:      labels,
			CommonAnnotations: a.Annotations,
			ExternalURL:       "http://alertmanager.example.com:9093",
		},
		Version:  "4",
		GroupKey: `{}:{alertname="` + labels["alertname"] + `"}`,
	})
	if err != nil {
		t.Fatalf("encoding a payload: %v", err)
	}
	return body
}

// checkTargetsAPI checks a target's breaker state in GET /api/v1/targets.
func checkTargetsAPI(t *testing.T, f *fanoutServer, name, breakerState string) {
	t.Helper()
	resp, err := client.Get(f.url + "/api/v1/targets")
	if err != nil {
		t.Fatalf("GET /api/v1/targets: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Targets []struct {
			Name    string `json:"name"`
			Type    string `json:"type"`
			Breaker struct {
				State string `json:"state"`
			} `json:"breaker"`
		} `json:"targets"`
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/targets answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET /api/v1/targets: not the JSON expected: %v", err)
	}
	for _, tg := range body.Targets {
		if tg.Name == name {
			if tg.Breaker.State != breakerState {
				t.Errorf("/api/v1/targets says target %s's breaker is %q, want %q", name, tg.Breaker.State, breakerState)
			}
			return
		}
	}
	t.Errorf("/api/v1/targets does not list target %s: %+v", name, body.Targets)
}
