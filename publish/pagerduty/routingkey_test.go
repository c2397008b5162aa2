package pagerduty

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

const (
	keyDB  = "DBDBDBDBDBDBDBDBDBDBDBDBDBDBDB32"
	keyWeb = "WEBWEBWEBWEBWEBWEBWEBWEBWEBWEB32"
)

// teamKey picks the integration key by the team label, as Alertmanager's
// templated routing_key does.
const teamKey = `{{ if eq .CommonLabels.team "db" }}` + keyDB + `{{ else }}` + keyWeb + `{{ end }}`

func renderedKey(t *testing.T, body io.Reader) string {
	t.Helper()
	var ev struct {
		RoutingKey string `json:"routing_key"`
	}
	if err := json.NewDecoder(body).Decode(&ev); err != nil {
		t.Fatal(err)
	}
	return ev.RoutingKey
}

func TestPagerDutyTemplatedRoutingKey(t *testing.T) {
	p := newTestPagerDuty(t, "http://127.0.0.1:1/v2/enqueue", func(c *Config) { c.RoutingKey = teamKey }, publish.Options{})
	alertOf := func(team string) *core.EnrichedAlert {
		return &core.EnrichedAlert{Alert: core.Alert{Fingerprint: "f-" + team, Status: core.StatusFiring,
			Labels: map[string]string{"alertname": "Down", "team": team}}}
	}
	for team, want := range map[string]string{"db": keyDB, "web": keyWeb} {
		reqs, err := p.Render(context.Background(), alertOf(team))
		if err != nil {
			t.Fatalf("team %s: %v", team, err)
		}
		if got := renderedKey(t, reqs[0].Body); got != want {
			t.Errorf("team %s: routing key %q, want %q", team, got, want)
		}
		n := &core.Notification{Group: core.Group{GroupKey: "{}:{team=\"" + team + "\"}", CommonLabels: map[string]string{"team": team}},
			Alerts: []core.EnrichedAlert{*alertOf(team)}}
		reqs, err = p.RenderGroup(context.Background(), n)
		if err != nil {
			t.Fatalf("group of team %s: %v", team, err)
		}
		if got := renderedKey(t, reqs[0].Body); got != want {
			t.Errorf("group of team %s: routing key %q, want %q", team, got, want)
		}
	}
}

func TestPagerDutyTemplatedRoutingKeyErrorsHideTheKey(t *testing.T) {
	short := `{{ if eq .CommonLabels.team "db" }}` + keyDB + `{{ else }}SHORTSECRET{{ end }}`
	p := newTestPagerDuty(t, "http://127.0.0.1:1/v2/enqueue", func(c *Config) { c.RoutingKey = publish.Secret(short) }, publish.Options{})
	_, err := p.Render(context.Background(), &core.EnrichedAlert{Alert: core.Alert{Fingerprint: "f", Status: core.StatusFiring, Labels: map[string]string{"team": "web"}}})
	if err == nil || core.IsRetryable(err) {
		t.Fatalf("a key of the wrong length: %v, want a permanent failure", err)
	}
	if strings.Contains(err.Error(), "SHORTSECRET") || strings.Contains(err.Error(), keyDB) {
		t.Errorf("the error shows a key: %v", err)
	}
	c := &Config{RoutingKey: publish.Secret(`{{ if .CommonLabels.team }}` + keyDB)}
	err = c.Validate(t.TempDir())
	if err == nil || !strings.HasPrefix(err.Error(), "routing_key") || strings.Contains(err.Error(), keyDB) {
		t.Errorf("a template that does not parse: %v, want an error naming routing_key and not the key", err)
	}
}
