package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/outbox"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/receiver"
)

// testTarget sends a test notification, then its resolve, to the target
// named by --target, through a publisher built as the server builds it
// but without outbox or breaker, and prints every request, answer and
// outcome with secrets redacted. It exits 0 when no step failed.
func testTarget(f flags, stdout, stderr io.Writer, logger *slog.Logger) int {
	cfg, err := config.LoadFile(f.configFile, f.targetsDir)
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	t, err := targetNamed(cfg.Targets, f.target)
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	msg := defaultTestMessage()
	if f.payload != "" {
		if msg, err = readPayload(f.payload); err != nil {
			fmt.Fprintf(stderr, "FAILED: %v\n", err)
			return 1
		}
	}
	// State a publisher keeps (a Rootly alert id, a Slack thread) lives
	// for this test send only, away from the server's.
	dir, err := os.MkdirTemp("", "am-fanout-test-")
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	store, err := outbox.Open(filepath.Join(dir, "test.db"), outbox.StoreOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	defer store.Close()
	secrets := withURLParts(secretsOf(t.Spec))
	printer := &exchangePrinter{w: stdout, secrets: secrets}
	p, err := publish.New(t, publish.Options{Logger: logger, UserAgent: userAgent(), State: publisherState(store), Transport: printer.wrap})
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	if c, ok := p.(io.Closer); ok {
		defer c.Close()
	}
	now := time.Now()
	id := newTestID(now)
	alerts := testAlerts(msg, id, enrich.New(cfg.Enrich.Rules, time.Now), now)
	rep := newTestReport(t, id, alerts)
	fmt.Fprintf(stdout, "test send to target %s (%s), test_id %s\n", t.Name, t.Type, id)
	if rep.Note != "" {
		fmt.Fprintf(stdout, "note: %s\n", rep.Note)
	}
	for _, a := range alerts {
		fmt.Fprintf(stdout, "\n### %s %s [%s]\n", a.Alert.Labels["alertname"], a.Alert.Fingerprint, a.Alert.Status)
		step := deliverTest(context.Background(), t, p, a, secrets)
		addStep(rep, step)
		fmt.Fprintf(stdout, "outcome: %s\n", stepOutcome(step))
	}
	if !rep.Delivered {
		fmt.Fprintf(stderr, "FAILED: test send to target %q: a delivery failed (see the outcomes above)\n", t.Name)
		return 1
	}
	fmt.Fprintf(stdout, "\nSUCCESS: target %q received the test notification and its resolve\n", t.Name)
	return 0
}

// readPayload reads an Alertmanager webhook payload from a file.
func readPayload(path string) (*enrich.Message, error) {
	r, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	msg, err := enrich.Decode(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(msg.Alerts) == 0 {
		return nil, fmt.Errorf("%s: the payload holds no alerts", path)
	}
	return msg, nil
}

// stepOutcome is one line on a step: what happened, how long it took and
// why it failed.
func stepOutcome(s receiver.TestStep) string {
	switch s.Outcome {
	case receiver.TestDelivered:
		return fmt.Sprintf("delivered in %s", s.Duration)
	case receiver.TestSkipped:
		return "skipped: " + s.Error
	}
	what := "permanent failure"
	if s.Outcome == receiver.TestRetryable {
		what = "retryable failure"
	}
	if s.StatusCode != 0 {
		what += fmt.Sprintf(", HTTP %d", s.StatusCode)
	}
	if s.RetryAfter != "" {
		what += ", Retry-After " + s.RetryAfter
	}
	return fmt.Sprintf("%s in %s: %s", what, s.Duration, s.Error)
}
