// Package core holds am-fanout's domain types: alerts as Alertmanager sends
// them, the enriched alert every target receives, targets and the results of
// delivering to them. It depends on the standard library only.
package core

import "time"

// AlertStatus is the state Alertmanager reports for an alert.
type AlertStatus string

// The two alert states Alertmanager sends.
const (
	StatusFiring   AlertStatus = "firing"
	StatusResolved AlertStatus = "resolved"
)

// Alert is one alert of an Alertmanager notification.
type Alert struct {
	Fingerprint  string            `json:"fingerprint"`
	Status       AlertStatus       `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// Group is the context of the notification an alert arrived in: the
// Alertmanager receiver, the aggregation group and its labels.
type Group struct {
	Receiver          string            `json:"receiver"`
	Status            AlertStatus       `json:"status"`
	GroupKey          string            `json:"groupKey"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
}

// Severity is the normalised severity of an alert.
type Severity string

// The normalised severities, from most to least urgent.
const (
	SeverityCritical Severity = "critical"
	SeverityWarning  Severity = "warning"
	SeverityInfo     Severity = "info"
)

// Classification is what enrichment concluded about an alert.
type Classification struct {
	// Severity is normalised from the severity label and rules.
	Severity Severity `json:"severity"`
	// RawSeverity is the severity label as received, empty when absent.
	RawSeverity string `json:"rawSeverity,omitempty"`
	// Priority is set by enrichment rules (for example P1..P5); empty when no
	// rule set one.
	Priority string `json:"priority,omitempty"`
	// Rules names the enrichment rules that matched, in order.
	Rules []string `json:"rules,omitempty"`
	// Team is the owning team the external classifier named; empty
	// without one.
	Team string `json:"team,omitempty"`
	// Classifier is true once the external classifier's answer is
	// applied; false when there is none or it failed open to the rules.
	Classifier bool `json:"classifier,omitempty"`
}

// Link is a named URL that helps a responder act on an alert.
type Link struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// The names of the links enrichment derives.
const (
	LinkSource    = "source"
	LinkRunbook   = "runbook"
	LinkDashboard = "dashboard"
	LinkSilence   = "silence"
)

// EnrichedAlert is one alert with its group context and classification:
// what every target receives.
type EnrichedAlert struct {
	Alert          Alert          `json:"alert"`
	Group          Group          `json:"group"`
	Classification Classification `json:"classification"`
	Links          []Link         `json:"links,omitempty"`
	ReceivedAt     time.Time      `json:"receivedAt"`
}

// Link returns the URL of the link with the given name, or "".
func (a *EnrichedAlert) Link(name string) string {
	for _, l := range a.Links {
		if l.Name == name {
			return l.URL
		}
	}
	return ""
}

// Summary returns a one-line description of the alert: the summary or
// description annotation, else the alert name.
func (a *EnrichedAlert) Summary() string {
	for _, k := range []string{"summary", "description", "message"} {
		if v := a.Alert.Annotations[k]; v != "" {
			return v
		}
	}
	if n := a.Alert.Labels["alertname"]; n != "" {
		return n
	}
	return "alert " + a.Alert.Fingerprint
}
