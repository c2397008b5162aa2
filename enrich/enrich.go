// Package enrich turns Alertmanager's webhook payload into one
// core.EnrichedAlert per alert: it copies the alert and its group context,
// computes a missing fingerprint, normalises the severity, applies the
// configured rules and derives links a responder can click.
package enrich

import (
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
)

// Enricher enriches alerts with a fixed set of rules. It holds no mutable
// state, so one Enricher may serve concurrent requests.
type Enricher struct {
	rules []config.Rule
	now   func() time.Time
}

// New returns an Enricher that applies rules in order and stamps alerts
// with now(); a nil now means time.Now.
func New(rules []config.Rule, now func() time.Time) *Enricher {
	if now == nil {
		now = time.Now
	}
	return &Enricher{rules: rules, now: now}
}

// Enrich returns one EnrichedAlert per alert of msg, in payload order. The
// results share no map with msg, so a target may keep or change them.
func (e *Enricher) Enrich(msg *Message) []*core.EnrichedAlert {
	received := e.now()
	out := make([]*core.EnrichedAlert, 0, len(msg.Alerts))
	for i := range msg.Alerts {
		ea := &core.EnrichedAlert{
			Alert:      alertOf(&msg.Alerts[i]),
			Group:      groupOf(msg),
			ReceivedAt: received,
		}
		e.classify(ea, msg.Alerts[i].Labels)
		ea.Links = links(&ea.Alert, msg.Alerts[i].Labels, msg.ExternalURL)
		out = append(out, ea)
	}
	return out
}

// alertOf copies a payload alert. A missing fingerprint is computed the way
// Alertmanager computes it, from the label set.
func alertOf(a *template.Alert) core.Alert {
	fp := a.Fingerprint
	if fp == "" {
		fp = Fingerprint(a.Labels)
	}
	return core.Alert{
		Fingerprint:  fp,
		Status:       core.AlertStatus(a.Status),
		Labels:       copyKV(a.Labels),
		Annotations:  copyKV(a.Annotations),
		StartsAt:     a.StartsAt,
		EndsAt:       a.EndsAt,
		GeneratorURL: a.GeneratorURL,
	}
}

// Fingerprint returns Alertmanager's fingerprint of a label set: the hex
// form of model.LabelSet.Fingerprint, as in the payload's fingerprint field.
func Fingerprint(ls map[string]string) string {
	set := make(model.LabelSet, len(ls))
	for k, v := range ls {
		set[model.LabelName(k)] = model.LabelValue(v)
	}
	return set.Fingerprint().String()
}

func groupOf(msg *Message) core.Group {
	return core.Group{
		Receiver:          msg.Receiver,
		Status:            core.AlertStatus(msg.Status),
		GroupKey:          msg.GroupKey,
		GroupLabels:       copyKV(msg.GroupLabels),
		CommonLabels:      copyKV(msg.CommonLabels),
		CommonAnnotations: copyKV(msg.CommonAnnotations),
		ExternalURL:       msg.ExternalURL,
		TruncatedAlerts:   msg.TruncatedAlerts,
	}
}

// classify sets the severity from the received severity label, then
// applies every rule whose matchers hold. Matchers see the labels as
// received, never as an earlier rule changed them, so that rule order only
// decides which value wins, not which rules apply.
//
// A rule's severity field wins over labels; without one, the severity
// follows the final severity label, so a rule setting that label is
// honoured too. RawSeverity always keeps the label as received.
func (e *Enricher) classify(ea *core.EnrichedAlert, received map[string]string) {
	c := &ea.Classification
	c.RawSeverity = received["severity"]
	var override core.Severity
	for i := range e.rules {
		r := &e.rules[i]
		if !matches(r, received) {
			continue
		}
		for k, v := range r.Labels {
			ea.Alert.Labels[k] = v
		}
		for k, v := range r.Annotations {
			ea.Alert.Annotations[k] = v
		}
		if r.Severity != "" {
			override = core.Severity(r.Severity)
		}
		if r.Priority != "" {
			c.Priority = r.Priority
		}
		c.Rules = append(c.Rules, r.Name)
	}
	c.Severity = override
	if c.Severity == "" {
		c.Severity = NormalizeSeverity(ea.Alert.Labels["severity"])
	}
}

func matches(r *config.Rule, ls map[string]string) bool {
	for _, m := range r.Matchers {
		if !m.Matches(ls[m.Name]) {
			return false
		}
	}
	return true
}

// copyKV copies a label or annotation map; the copy is never nil, so that
// targets always see an object rather than null.
func copyKV(kv map[string]string) map[string]string {
	out := make(map[string]string, len(kv))
	for k, v := range kv {
		out[k] = v
	}
	return out
}
