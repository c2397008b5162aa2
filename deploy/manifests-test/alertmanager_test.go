package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"sigs.k8s.io/yaml"
)

// webhookReceiver is the part of an Alertmanager configuration that sends
// to am-fanout.
type webhookReceiver struct {
	Receivers []struct {
		Name           string `json:"name"`
		WebhookConfigs []struct {
			URL          string `json:"url"`
			SendResolved *bool  `json:"send_resolved"`
			MaxAlerts    *int   `json:"max_alerts"`
			Timeout      string `json:"timeout"`
		} `json:"webhook_configs"`
	} `json:"receivers"`
}

// fanoutDeadline is am-fanout's default fanout.timeout; Alertmanager must
// wait longer, or it retries fan-outs that were about to succeed.
const fanoutDeadline = 30 * time.Second

// alertmanagerConfigs returns every Alertmanager configuration shipped,
// each with the am-fanout URL it must send to.
func alertmanagerConfigs(t *testing.T) map[string]struct {
	config  any
	wantURL string
} {
	t.Helper()
	out := map[string]struct {
		config  any
		wantURL string
	}{}
	data, err := os.ReadFile("../../examples/alertmanager.yml")
	if err != nil {
		t.Fatal(err)
	}
	var example any
	if err := yaml.Unmarshal(data, &example); err != nil {
		t.Fatal(err)
	}
	out["examples/alertmanager.yml"] = struct {
		config  any
		wantURL string
	}{example, "http://am-fanout.monitoring.svc:9099/webhook"}
	for _, s := range sidecarValues {
		data, err := os.ReadFile(s.file)
		if err != nil {
			t.Fatal(err)
		}
		var values map[string]any
		if err := yaml.Unmarshal(data, &values); err != nil {
			t.Fatal(err)
		}
		_, _, cfg := s.pick(values)
		out[s.file] = struct {
			config  any
			wantURL string
		}{cfg, "http://127.0.0.1:9099/webhook"}
	}
	return out
}

func TestAlertmanagerSendsToAmFanoutAsRecommended(t *testing.T) {
	for name, c := range alertmanagerConfigs(t) {
		t.Run(name, func(t *testing.T) {
			var r webhookReceiver
			data, _ := yaml.Marshal(c.config)
			if err := yaml.Unmarshal(data, &r); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, rcv := range r.Receivers {
				for _, w := range rcv.WebhookConfigs {
					if w.URL != c.wantURL {
						continue
					}
					found = true
					if w.SendResolved == nil || !*w.SendResolved {
						t.Error("send_resolved is not true: targets would never see alerts resolve")
					}
					if w.MaxAlerts == nil || *w.MaxAlerts != 0 {
						t.Error("max_alerts is not 0: Alertmanager would drop the alerts over the limit")
					}
					d, err := model.ParseDuration(w.Timeout)
					if err != nil || time.Duration(d) <= fanoutDeadline {
						t.Errorf("timeout %q must outlast am-fanout's %v fan-out deadline", w.Timeout, fanoutDeadline)
					}
				}
			}
			if !found {
				t.Errorf("no webhook_configs entry sends to %s", c.wantURL)
			}
		})
	}
}

// TestAlertmanagerAcceptsTheConfigs runs amtool check-config, from $AMTOOL
// or the PATH, on every shipped Alertmanager configuration.
func TestAlertmanagerAcceptsTheConfigs(t *testing.T) {
	amtool := os.Getenv("AMTOOL")
	if amtool == "" {
		var err error
		if amtool, err = exec.LookPath("amtool"); err != nil {
			t.Fatalf("amtool is needed to check the Alertmanager configurations (set AMTOOL or put it on the PATH): %v", err)
		}
	}
	dir := t.TempDir()
	for name, c := range alertmanagerConfigs(t) {
		data, err := yaml.Marshal(c.config)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "alertmanager.yml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(amtool, "check-config", path).CombinedOutput(); err != nil {
			t.Errorf("%s: amtool check-config: %v\n%s", name, err, out)
		}
	}
}
