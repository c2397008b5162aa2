// Package publishtest holds what the tests of every integration share:
// alert fixtures, golden files, loggers that capture, assertions on
// delivery errors and secrets, the scripted answers of the vendor fakes
// and a publisher state in memory. It is imported by tests only.
package publishtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// Update rewrites the golden files in testdata/ instead of comparing.
var Update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// resolvedFixture is Alert, resolved ten minutes after it started.
func ResolvedAlert() *core.EnrichedAlert {
	a := Alert()
	a.Alert.Status = core.StatusResolved
	a.Alert.EndsAt = a.Alert.StartsAt.Add(10 * time.Minute)
	a.Group.Status = core.StatusResolved
	return a
}

// IncidentAlert is a firing alert as enrichment produces it, with
// every link kind, for the PagerDuty and Opsgenie tests.
func IncidentAlert() *core.EnrichedAlert {
	starts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return &core.EnrichedAlert{
		Alert: core.Alert{
			Fingerprint: "a1b2c3d4e5f60718",
			Status:      core.StatusFiring,
			Labels: map[string]string{
				"alertname": "HighLatency", "severity": "critical", "service": "checkout",
				"job": "api", "instance": "api-1:8080", "cluster": "eu-1",
			},
			Annotations: map[string]string{
				"summary":     "p99 latency above 2s",
				"description": "The p99 latency of checkout has been above 2s for 5 minutes.",
				"runbook_url": "https://runbooks.example.com/high-latency",
			},
			StartsAt:     starts,
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=latency",
		},
		Group: core.Group{
			Receiver:    "fanout",
			Status:      core.StatusFiring,
			GroupKey:    `{}:{alertname="HighLatency"}`,
			GroupLabels: map[string]string{"alertname": "HighLatency"},
			ExternalURL: "http://alertmanager:9093",
		},
		Classification: core.Classification{Severity: core.SeverityCritical, RawSeverity: "critical"},
		Links: []core.Link{
			{Name: core.LinkSource, URL: "http://prometheus:9090/graph?g0.expr=latency"},
			{Name: core.LinkRunbook, URL: "https://runbooks.example.com/high-latency"},
			{Name: core.LinkDashboard, URL: "https://grafana.example.com/d/latency"},
			{Name: core.LinkSilence, URL: "http://alertmanager:9093/#/silences/new?filter=%7Balertname%3D%22HighLatency%22%7D"},
		},
		ReceivedAt: starts.Add(30 * time.Second),
	}
}

func ResolvedIncidentAlert() *core.EnrichedAlert {
	a := IncidentAlert()
	a.Alert.Status, a.Group.Status = core.StatusResolved, core.StatusResolved
	a.Alert.EndsAt = a.Alert.StartsAt.Add(10 * time.Minute)
	return a
}

func EqualJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// assertKeyHidden fails when the secret key appears in err or in the logs.
func AssertSecretHidden(t *testing.T, secret string, err error, logs *bytes.Buffer) {
	t.Helper()
	if err != nil {
		for e := err; e != nil; e = errors.Unwrap(e) {
			if strings.Contains(e.Error(), secret) {
				t.Errorf("error %q reveals the secret", e)
			}
		}
	}
	if bytes.Contains(logs.Bytes(), []byte(secret)) {
		t.Errorf("logs reveal the secret:\n%s", logs.Bytes())
	}
}

// ChatAlert is a firing critical alert with every link; resolved
// returns it resolved.
func ChatAlert(resolved bool) *core.EnrichedAlert {
	starts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	a := &core.EnrichedAlert{
		Alert: core.Alert{
			Fingerprint: "a1b2c3d4e5f60718",
			Status:      core.StatusFiring,
			Labels: map[string]string{
				"alertname": "HighLatency", "severity": "critical", "service": "checkout",
				"cluster": "eu-1", "instance": "10.0.0.7:8080", "pod": "checkout-7d9f",
			},
			Annotations: map[string]string{
				"summary":     "p99 latency above 2s",
				"description": "Checkout <p99> is 2.4s & rising",
			},
			StartsAt:     starts,
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=latency",
		},
		Group: core.Group{
			Receiver:    "fanout",
			Status:      core.StatusFiring,
			GroupKey:    `{}:{alertname="HighLatency"}`,
			GroupLabels: map[string]string{"alertname": "HighLatency", "service": "checkout"},
			ExternalURL: "http://alertmanager:9093",
		},
		Classification: core.Classification{Severity: core.SeverityCritical, RawSeverity: "critical"},
		Links: []core.Link{
			{Name: core.LinkRunbook, URL: "https://runbooks.example.com/high-latency"},
			{Name: core.LinkDashboard, URL: "https://grafana.example.com/d/checkout"},
			{Name: core.LinkSilence, URL: "http://alertmanager:9093/#/silences/new?filter=%7Balertname%3D%22HighLatency%22%7D"},
		},
		ReceivedAt: starts.Add(30 * time.Second),
	}
	if resolved {
		a.Alert.Status = core.StatusResolved
		a.Alert.EndsAt = a.Alert.StartsAt.Add(10 * time.Minute)
	}
	return a
}

// slackTestOversized is an alert whose every text is far over the limits.
func OversizedAlert() *core.EnrichedAlert {
	a := ChatAlert(false)
	a.Alert.Labels["alertname"] = strings.Repeat("VeryLongAlertName", 30)
	a.Alert.Annotations["summary"] = strings.Repeat("summary & <text> ", 400)
	a.Alert.Annotations["description"] = strings.Repeat("é", 50000)
	for i := range 40 {
		a.Alert.Labels[fmt.Sprintf("label_%02d", i)] = strings.Repeat("v", 3000)
	}
	a.Links = append(a.Links, core.Link{Name: strings.Repeat("L", 100), URL: "https://example.com/x"},
		core.Link{Name: "huge", URL: "https://example.com/" + strings.Repeat("p", 4000)})
	return a
}

// slackTestLogger captures the publisher's logs, to prove no secret
// reaches them.
func DebugLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func Tail(s string) string {
	r := []rune(s)
	return string(r[max(len(r)-20, 0):])
}

// assertDelivery checks that err is the classified failure wanted.
func AssertDeliveryError(t *testing.T, err error, status int, retryable bool, retryAfter time.Duration, says string) {
	t.Helper()
	if err == nil {
		t.Fatal("Publish succeeded, want a failure")
	}
	if got := core.StatusCode(err); got != status {
		t.Errorf("status %d, want %d (%v)", got, status, err)
	}
	if got := core.IsRetryable(err); got != retryable {
		t.Errorf("retryable %v, want %v (%v)", got, retryable, err)
	}
	if got := core.RetryAfter(err); got != retryAfter {
		t.Errorf("retry after %v, want %v", got, retryAfter)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("error %q does not say %q", err, says)
	}
}

// vendorAlert is the alert the rootly and msteams tests deliver.
func VendorAlert(status core.AlertStatus) *core.EnrichedAlert {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	labels := map[string]string{
		"alertname": "HighErrorRate", "severity": "critical", "service": "checkout",
		"namespace": "shop", "instance": "checkout-7d9f:8080",
	}
	a := &core.EnrichedAlert{
		Alert: core.Alert{
			Fingerprint: "4f3a2b1c0d9e8f7a",
			Status:      status,
			Labels:      labels,
			Annotations: map[string]string{
				"summary":     "Checkout error rate above 5%",
				"description": "5.2% of checkout requests failed over the last 10 minutes.",
				"runbook_url": "https://runbooks.example.com/checkout-errors",
				"team":        "payments",
			},
			StartsAt:     start,
			GeneratorURL: "http://prometheus.example.com/graph?g0.expr=rate%28errors%5B5m%5D%29",
		},
		Group: core.Group{
			Receiver: "am-fanout", Status: status, GroupKey: `{}:{alertname="HighErrorRate"}`,
			GroupLabels:       map[string]string{"alertname": "HighErrorRate"},
			CommonLabels:      labels,
			CommonAnnotations: map[string]string{"summary": "Checkout error rate above 5%"},
			ExternalURL:       "http://alertmanager.example.com",
		},
		Classification: core.Classification{Severity: core.SeverityCritical, RawSeverity: "critical"},
		Links: []core.Link{
			{Name: core.LinkSource, URL: "http://prometheus.example.com/graph?g0.expr=rate%28errors%5B5m%5D%29"},
			{Name: core.LinkRunbook, URL: "https://runbooks.example.com/checkout-errors"},
			{Name: core.LinkDashboard, URL: "https://grafana.example.com/d/checkout"},
			{Name: core.LinkSilence, URL: "http://alertmanager.example.com/#/silences/new?filter=%7Balertname%3D%22HighErrorRate%22%7D"},
		},
		ReceivedAt: start.Add(30 * time.Second),
	}
	if status == core.StatusResolved {
		a.Alert.EndsAt = start.Add(15 * time.Minute)
	}
	return a
}

// bufferLogger returns a logger writing text lines into the buffer.
func BufferLogger(buf *bytes.Buffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Alert is a firing alert with its group context, as enrichment
// produces it.
func Alert() *core.EnrichedAlert {
	starts := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return &core.EnrichedAlert{
		Alert: core.Alert{
			Fingerprint: "a1b2c3d4e5f60718",
			Status:      core.StatusFiring,
			Labels: map[string]string{
				"alertname": "HighLatency", "severity": "critical", "service": "checkout", "cluster": "eu-1",
			},
			Annotations: map[string]string{
				"summary":     "p99 latency above 2s",
				"runbook_url": "https://runbooks.example.com/high-latency",
			},
			StartsAt:     starts,
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=latency",
		},
		Group: core.Group{
			Receiver:          "fanout",
			Status:            core.StatusFiring,
			GroupKey:          `{}:{alertname="HighLatency"}`,
			GroupLabels:       map[string]string{"alertname": "HighLatency"},
			CommonLabels:      map[string]string{"alertname": "HighLatency", "severity": "critical"},
			CommonAnnotations: map[string]string{},
			ExternalURL:       "http://alertmanager:9093",
		},
		Classification: core.Classification{Severity: core.SeverityCritical, RawSeverity: "critical", Priority: "P1"},
		Links: []core.Link{
			{Name: core.LinkRunbook, URL: "https://runbooks.example.com/high-latency"},
		},
		ReceivedAt: starts.Add(30 * time.Second),
	}
}

// AssertGolden compares a JSON body with testdata/name, after indenting it
// so that the golden files read well; -update rewrites the file.
func AssertGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatalf("golden %s: body is not JSON: %v\n%s", name, err, got)
	}
	buf.WriteByte('\n')
	path := filepath.Join("testdata", name)
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden %s: %v (run the test with -update to create it)", name, err)
	}
	if !bytes.Equal(want, buf.Bytes()) {
		t.Errorf("body differs from golden file %s (run with -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, buf.Bytes(), want)
	}
}
