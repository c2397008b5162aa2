package pagerduty

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"unicode/utf8"

	amtemplate "github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// routingKey is a target's integration key: fixed, or, as Alertmanager
// allows, a template over Alertmanager's data (`{{ if eq .CommonLabels.team
// "db" }}KEY-A{{ else }}KEY-B{{ end }}`) rendered for each message. The
// template holds keys, so neither it nor what it renders ever appears in
// an error or a log line.
type routingKey struct {
	fixed string
	tmpl  *template.Template
}

// templated reports whether a routing_key is a template.
func templated(key string) bool { return strings.Contains(key, "{{") }

func parseRoutingKey(key string) (routingKey, error) {
	if !templated(key) {
		return routingKey{fixed: key}, nil
	}
	t, err := template.New("routing_key").Funcs(template.FuncMap(amtemplate.DefaultFuncs)).Option("missingkey=zero").Parse(key)
	if err != nil {
		// The parser's message quotes the template: say where, not what.
		return routingKey{}, errors.New("routing_key: the template does not parse")
	}
	return routingKey{tmpl: t}, nil
}

// forAlert is the key of one alert's event: the template runs over the
// one-alert notification, so .CommonLabels are the alert's labels.
func (k routingKey) forAlert(a *core.EnrichedAlert) (string, error) {
	if k.tmpl == nil {
		return k.fixed, nil
	}
	return k.render(publish.AlertmanagerMessage(a).Data)
}

// forGroup is the key of a notification's event.
func (k routingKey) forGroup(n *core.Notification) (string, error) {
	if k.tmpl == nil {
		return k.fixed, nil
	}
	return k.render(publish.AlertmanagerNotification(n).Data)
}

func (k routingKey) render(data *amtemplate.Data) (string, error) {
	var b strings.Builder
	if err := k.tmpl.Execute(&b, data); err != nil {
		return "", core.Permanent(0, errors.New("routing_key: the template failed to render"))
	}
	key := strings.TrimSpace(b.String())
	if n := utf8.RuneCountInString(key); n != PagerDutyRoutingKeyLen {
		return "", core.Permanent(0, fmt.Errorf("routing_key: the template rendered %d characters, want the %d-character integration key", n, PagerDutyRoutingKeyLen))
	}
	return key, nil
}
