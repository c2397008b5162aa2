package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/receiver"
)

// The test alert a test send delivers when no payload is given.
const (
	testAlertName = "AmFanoutTest"
	testSummary   = "Test notification from am-fanout — ignore"
)

// newTestID is unique per test send: it labels the test alerts, so that
// their fingerprints are new and no dedup window at a vendor swallows
// them.
func newTestID(now time.Time) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b)
}

// defaultTestMessage is the notification of one AmFanoutTest alert.
func defaultTestMessage() *enrich.Message {
	m := &enrich.Message{Version: enrich.SupportedVersion}
	m.Receiver = "am-fanout-test"
	m.Alerts = template.Alerts{{
		Labels:      template.KV{"alertname": testAlertName, "severity": "info"},
		Annotations: template.KV{"summary": testSummary},
	}}
	return m
}

// testMessage is msg's alerts marked as tests of run id (labels test="true"
// and test_id, the summary saying it is a test, fingerprints from the new
// labels) in the given status, in a group of their own. msg is not
// changed.
func testMessage(msg *enrich.Message, id string, status core.AlertStatus, now time.Time) *enrich.Message {
	out := &enrich.Message{Version: enrich.SupportedVersion}
	out.Receiver, out.ExternalURL = msg.Receiver, msg.ExternalURL
	out.Status = string(status)
	out.GroupKey = fmt.Sprintf("{}:{test_id=%q}", id)
	out.GroupLabels = template.KV{"test_id": id}
	for _, a := range msg.Alerts {
		a.Labels = maps.Clone(a.Labels)
		a.Labels["test"], a.Labels["test_id"] = "true", id
		a.Annotations = maps.Clone(a.Annotations)
		if a.Annotations == nil {
			a.Annotations = template.KV{}
		}
		if s := a.Annotations["summary"]; !strings.HasPrefix(s, testSummary) {
			a.Annotations["summary"] = strings.TrimSuffix(testSummary+": "+s, ": ")
		}
		a.Status, a.StartsAt, a.EndsAt = string(status), now, time.Time{}
		if status == core.StatusResolved {
			a.EndsAt = now
		}
		a.Fingerprint = enrich.Fingerprint(a.Labels)
		out.Alerts = append(out.Alerts, a)
	}
	out.CommonLabels = common(out.Alerts, func(a template.Alert) template.KV { return a.Labels })
	out.CommonAnnotations = common(out.Alerts, func(a template.Alert) template.KV { return a.Annotations })
	return out
}

// common is the pairs every alert has, as Alertmanager computes the
// common labels and annotations of a notification.
func common(alerts template.Alerts, kv func(template.Alert) template.KV) template.KV {
	out := template.KV{}
	if len(alerts) == 0 {
		return out
	}
	maps.Copy(out, kv(alerts[0]))
	for _, a := range alerts[1:] {
		for k, v := range out {
			if kv(a)[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

// testAlerts are the deliveries of a test send: every alert of msg
// firing, then every one resolved, enriched as real alerts are.
func testAlerts(msg *enrich.Message, id string, e *enrich.Enricher, now time.Time) []*core.EnrichedAlert {
	firing := e.Enrich(testMessage(msg, id, core.StatusFiring, now))
	return append(firing, e.Enrich(testMessage(msg, id, core.StatusResolved, now))...)
}

// testNote says what about the test alerts differs from a real delivery
// to t, empty when nothing does.
func testNote(t *core.Target, alerts []*core.EnrichedAlert) string {
	for _, a := range alerts {
		if a.Alert.Status == core.StatusFiring && t.Selector != nil && !t.Selector.Selects(a.Alert.Labels) {
			return fmt.Sprintf("the target's matchers (%s) do not select the test alert; a test send delivers it anyway",
				strings.Join(t.Match, ", "))
		}
	}
	return ""
}

// deliverTest delivers one test alert to t through p, within the
// target's timeout, and classifies the outcome; its texts have secrets
// replaced.
func deliverTest(ctx context.Context, t *core.Target, p core.Publisher, a *core.EnrichedAlert, secrets []string) receiver.TestStep {
	step := receiver.TestStep{
		Alert: a.Alert.Labels["alertname"], Fingerprint: a.Alert.Fingerprint, Status: a.Alert.Status,
		Outcome: receiver.TestDelivered, Duration: "0s",
	}
	if a.Alert.Status == core.StatusResolved && !t.SendResolved {
		step.Outcome, step.Error = receiver.TestSkipped, "send_resolved is off for this target: it never receives resolves"
		return step
	}
	if t.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.Timeout)
		defer cancel()
	}
	start := time.Now()
	err := p.Publish(ctx, a)
	step.Duration = time.Since(start).Round(time.Microsecond).String()
	if err == nil {
		return step
	}
	step.Outcome, step.StatusCode, step.Error = receiver.TestPermanent, core.StatusCode(err), redact(err.Error(), secrets)
	if core.IsRetryable(err) {
		step.Outcome = receiver.TestRetryable
		if d := core.RetryAfter(err); d > 0 {
			step.RetryAfter = d.String()
		}
	}
	return step
}

// newTestReport starts the report of a test send to t.
func newTestReport(t *core.Target, id string, alerts []*core.EnrichedAlert) *receiver.TestReport {
	return &receiver.TestReport{Target: t.Name, Type: t.Type, ID: id, Delivered: true, Note: testNote(t, alerts)}
}

// add records a step; a failed step makes the test send fail.
func addStep(r *receiver.TestReport, s receiver.TestStep) {
	r.Steps = append(r.Steps, s)
	if s.Outcome == receiver.TestRetryable || s.Outcome == receiver.TestPermanent {
		r.Delivered = false
	}
}

// targetNamed finds the target called name among ts.
func targetNamed(ts []*core.Target, name string) (*core.Target, error) {
	known := make([]string, 0, len(ts))
	for _, t := range ts {
		if t.Name == name {
			return t, nil
		}
		known = append(known, t.Name)
	}
	return nil, &receiver.UnknownTargetError{Name: name, Known: known}
}
