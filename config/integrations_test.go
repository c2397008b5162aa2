package config

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/opsgenie/opsgenietest"
	"github.com/am-fanout/am-fanout/publish/pagerduty/pagerdutytest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// Every integration of the registry is named once, in order, and its
// block, loaded from a file with what the type requires, builds a
// publisher.
func TestEveryIntegrationBuildsItsPublisher(t *testing.T) {
	minimal := map[string]string{
		"discord":   "url: https://discord.com/api/webhooks/1/abc",
		"file":      "path: alerts.jsonl",
		"jsm":       "api_key: eb243592-faa2-4ba2-a551-1afdf565c889",
		"msteams":   "url: https://example.logic.azure.com/workflows/1",
		"opsgenie":  "api_key: eb243592-faa2-4ba2-a551-1afdf565c889",
		"pagerduty": "routing_key: R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32",
		"rootly":    "url: https://webhooks.rootly.com/webhooks/incoming/alertmanager_webhooks\n    secret: s",
		"slack":     "url: https://hooks.slack.com/services/T0/B0/X",
		"webhook":   "url: http://127.0.0.1:1/alerts",
	}
	var types []string
	for _, in := range Integrations() {
		types = append(types, in.Type)
		if in.NewConfig() == nil {
			t.Errorf("%s: NewConfig returned nil", in.Type)
		}
	}
	if !slices.IsSorted(types) || len(slices.Compact(slices.Clone(types))) != len(types) {
		t.Errorf("registry types %q are not sorted and unique", types)
	}
	dir := t.TempDir()
	for _, typ := range types {
		block, ok := minimal[typ]
		if !ok {
			t.Errorf("%s: no minimal block in this test; add one", typ)
			continue
		}
		yml := fmt.Sprintf("targets:\n  - name: t\n    type: %s\n    %s\n", typ, block)
		cfg, err := Parse([]byte(yml), filepath.Join(dir, "am-fanout.yml"))
		if err != nil {
			t.Errorf("%s: %v", typ, err)
			continue
		}
		p, err := publish.New(cfg.Targets[0], publish.Options{})
		if err != nil {
			t.Errorf("%s: New: %v", typ, err)
			continue
		}
		if c, ok := p.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

// TestStatefulPublishersNeedAState: the publishers that keep state refuse
// to be built without a store, rather than lose it silently.
func TestStatefulPublishersNeedAState(t *testing.T) {
	for _, block := range []string{
		"{name: t, type: slack, token: xoxb-1, channel: '#a'}",
		"{name: t, type: rootly, mode: alerts_api, api_token: k}",
	} {
		cfg, err := Parse([]byte("targets:\n  - "+block+"\n"), filepath.Join(t.TempDir(), "am-fanout.yml"))
		if err != nil {
			t.Fatalf("%s: %v", block, err)
		}
		_, err = publish.New(cfg.Targets[0], publish.Options{})
		if err == nil || !strings.Contains(err.Error(), `target "t"`) || !strings.Contains(err.Error(), "state store") {
			t.Errorf("%s without a state: want an error naming the target and the missing store, got %v", block, err)
		}
	}
}

// The defaults of a type's block (PagerDuty's component_label) come from
// its UnmarshalYAML, so a target loaded from a file delivers with them.
func TestIncidentTargetsBuiltFromConfig(t *testing.T) {
	const routingKey = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32"
	const genieKey = "eb243592-faa2-4ba2-a551-1afdf565c889"
	pd := pagerdutytest.NewPagerDuty(t)
	og := opsgenietest.NewOpsgenie(t, genieKey)
	yml := fmt.Sprintf(`targets:
  - name: pd
    type: pagerduty
    routing_key: %s
    url: %s
  - name: og
    type: opsgenie
    api_key: %s
    url: %s
    responders: [{type: team, name: sre}]
`, routingKey, pd.URL(), genieKey, og.URL())
	cfg, err := Parse([]byte(yml), "am-fanout.yml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, target := range cfg.Targets {
		p, err := publish.New(target, publish.Options{UserAgent: "am-fanout/test"})
		if err != nil {
			t.Fatalf("New(%s): %v", target.Name, err)
		}
		if err := p.Publish(context.Background(), publishtest.IncidentAlert()); err != nil {
			t.Errorf("%s: Publish: %v", target.Name, err)
		}
		if c, ok := p.(interface{ Close() error }); ok {
			_ = c.Close()
		}
	}
	events := pd.Events()
	if len(events) != 1 || events[0]["payload"].(map[string]any)["component"] != "checkout" {
		t.Errorf("PagerDuty got %d events, want 1 with component from the default component_label", len(events))
	}
	agents := pd.UserAgents()
	if len(agents) != 1 || agents[0] != "am-fanout/test" {
		t.Errorf("PagerDuty saw User-Agent %q, want am-fanout/test", agents)
	}
	if reqs := og.Calls(); len(reqs) != 1 {
		t.Errorf("Opsgenie got %d requests, want 1", len(reqs))
	}
}
