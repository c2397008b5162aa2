package enrich

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"

	"github.com/am-fanout/am-fanout/core"
)

// ClassifierRequest is the JSON body am-fanout posts to the external
// classifier for one alert (docs/classifier.md).
type ClassifierRequest struct {
	// Version is the request's schema version, "1".
	Version string     `json:"version"`
	Alert   core.Alert `json:"alert"`
	Group   core.Group `json:"group"`
	// Classification is what the rules concluded.
	Classification core.Classification `json:"classification"`
}

// ClassifierRequestVersion is the Version of every ClassifierRequest.
const ClassifierRequestVersion = "1"

// ClassifierAnswer is the JSON the external classifier answers with. Every
// field is optional; a field left empty keeps the rules' value.
type ClassifierAnswer struct {
	Severity string            `json:"severity,omitempty"`
	Priority string            `json:"priority,omitempty"`
	Team     string            `json:"team,omitempty"`
	Summary  string            `json:"summary,omitempty"`
	Runbook  string            `json:"runbook,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// The bounds of a classifier's answer; past them it is invalid.
const (
	MaxAnswerBytes  = 64 << 10
	maxPriority     = 32
	maxTeam         = 128
	maxSummary      = 1024
	maxRunbook      = 2048
	maxLabels       = 32
	maxLabelValue   = 1024
	severityChoices = "critical, warning, info"
)

// DecodeAnswer reads and validates a classifier's answer: at most
// MaxAnswerBytes of JSON, no unknown field, a known severity, bounded
// sizes. An empty body is an empty answer.
func DecodeAnswer(r io.Reader) (*ClassifierAnswer, error) {
	body, err := io.ReadAll(io.LimitReader(r, MaxAnswerBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(body) > MaxAnswerBytes {
		return nil, fmt.Errorf("answer is over %d bytes", MaxAnswerBytes)
	}
	var ans ClassifierAnswer
	if len(bytes.TrimSpace(body)) == 0 {
		return &ans, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ans); err != nil {
		return nil, fmt.Errorf("answer is not the classifier's JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("answer holds more than one JSON value")
	}
	if err := ans.Validate(); err != nil {
		return nil, err
	}
	return &ans, nil
}

// Validate checks an answer against the schema of docs/classifier.md.
func (a *ClassifierAnswer) Validate() error {
	switch core.Severity(a.Severity) {
	case "", core.SeverityCritical, core.SeverityWarning, core.SeverityInfo:
	default:
		return fmt.Errorf("severity %q is not one of %s", short(a.Severity), severityChoices)
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{{"priority", a.Priority, maxPriority}, {"team", a.Team, maxTeam}, {"summary", a.Summary, maxSummary}, {"runbook", a.Runbook, maxRunbook}} {
		if n := utf8.RuneCountInString(f.value); n > f.max {
			return fmt.Errorf("%s has %d characters, at most %d are allowed", f.name, n, f.max)
		}
	}
	if a.Runbook != "" && !isHTTPURL(a.Runbook) {
		return errors.New("runbook is not an absolute http or https URL")
	}
	if len(a.Labels) > maxLabels {
		return fmt.Errorf("labels has %d entries, at most %d are allowed", len(a.Labels), maxLabels)
	}
	for k, v := range a.Labels {
		switch {
		case !model.LegacyValidation.IsValidLabelName(k) || strings.HasPrefix(k, "__"):
			return fmt.Errorf("labels: %q is not a valid label name", short(k))
		case k == model.AlertNameLabel:
			return errors.New("labels: alertname names the alert and cannot be changed")
		case utf8.RuneCountInString(v) > maxLabelValue:
			return fmt.Errorf("labels: the value of %q is over %d characters", k, maxLabelValue)
		}
	}
	return nil
}

// short quotes at most 64 characters of a value in an error.
func short(s string) string {
	if utf8.RuneCountInString(s) <= 64 {
		return s
	}
	return string([]rune(s)[:64]) + "…"
}

// empty reports an answer that changes nothing.
func (a *ClassifierAnswer) empty() bool {
	return a.Severity == "" && a.Priority == "" && a.Team == "" && a.Summary == "" && a.Runbook == "" && len(a.Labels) == 0
}

// apply sets the answer's fields on an alert: they win over the rules'.
// The summary becomes the summary annotation and the runbook the
// runbook_url annotation and runbook link, so that every target shows
// them.
func (a *ClassifierAnswer) apply(ea *core.EnrichedAlert) {
	c := &ea.Classification
	if a.Severity != "" {
		c.Severity = core.Severity(a.Severity)
	}
	if a.Priority != "" {
		c.Priority = a.Priority
	}
	if a.Team != "" {
		c.Team = a.Team
	}
	if ea.Alert.Annotations == nil {
		ea.Alert.Annotations = map[string]string{}
	}
	if a.Summary != "" {
		ea.Alert.Annotations["summary"] = a.Summary
	}
	if a.Runbook != "" {
		ea.Alert.Annotations["runbook_url"] = a.Runbook
		ea.Links = withRunbook(ea.Links, a.Runbook)
	}
	if len(a.Labels) > 0 && ea.Alert.Labels == nil {
		ea.Alert.Labels = map[string]string{}
	}
	for k, v := range a.Labels {
		ea.Alert.Labels[k] = v
	}
	c.Classifier = true
}

// withRunbook replaces the runbook link, or adds it after the source link
// where links() puts it.
func withRunbook(links []core.Link, url string) []core.Link {
	out := make([]core.Link, 0, len(links)+1)
	added := false
	for _, l := range links {
		switch {
		case l.Name == core.LinkRunbook:
			continue
		case !added && l.Name != core.LinkSource:
			out = append(out, core.Link{Name: core.LinkRunbook, URL: url})
			added = true
		}
		out = append(out, l)
	}
	if !added {
		out = append(out, core.Link{Name: core.LinkRunbook, URL: url})
	}
	return out
}
