package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// alertmanagerConfig routes every alert to am-fanout's /webhook (%[1]s),
// one group per alert name, first sent after group_wait (%[2]s), changes
// flushed every second and nothing repeated during a test.
const alertmanagerConfig = `
route:
  receiver: am-fanout
  group_by: [alertname]
  group_wait: %[2]s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: am-fanout
    webhook_configs:
      - url: %[1]s/webhook
        send_resolved: true
`

// alertmanager is a running Alertmanager process.
type alertmanager struct {
	proc *process
	url  string // http://127.0.0.1:port, also its external URL
	home string // HOME for amtool, so no user config leaks in
}

// startAlertmanager runs Alertmanager in HA-less mode on loopback with a
// webhook receiver pointing at fanoutURL. A new group is first sent after
// groupWait, such as "0s" or "1s".
func startAlertmanager(t *testing.T, fanoutURL, groupWait string) *alertmanager {
	t.Helper()
	// An empty cluster address turns gossip off, so nothing listens
	// beyond the one loopback port.
	return runAlertmanager(t, fmt.Sprintf(alertmanagerConfig, fanoutURL, groupWait), func() []string { return []string{"--cluster.listen-address="} })
}

// runAlertmanager runs Alertmanager on loopback with this config and the
// cluster flags cluster gives for each attempt to start it (an attempt
// whose port was taken meanwhile is made again, gossip port included).
func runAlertmanager(t *testing.T, config string, cluster func() []string) *alertmanager {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(cfgFile, []byte(config), 0o600); err != nil {
		t.Fatalf("writing the Alertmanager config: %v", err)
	}
	proc, addr := startServing(t, "alertmanager", bins.alertmanager, func(addr string) []string {
		return append([]string{
			"--config.file=" + cfgFile,
			"--storage.path=" + filepath.Join(dir, "data"),
			"--web.listen-address=" + addr,
			"--web.external-url=http://" + addr,
			"--log.level=debug",
		}, cluster()...)
	})
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		t.Fatalf("creating amtool's home: %v", err)
	}
	return &alertmanager{proc: proc, url: "http://" + addr, home: home}
}

// amtoolAdd raises (or, with an --end flag, resolves) an alert with amtool.
// args are amtool's: labels as name=value, then flags such as
// --annotation=summary=... .
func (am *alertmanager) amtoolAdd(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command(bins.amtool, append([]string{"alert", "add", "--alertmanager.url=" + am.url}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+am.home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("amtool alert add %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// postableAlert is an alert as Alertmanager's v2 API accepts it.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// postAlerts raises or resolves alerts through POST /api/v2/alerts, as
// Prometheus does.
func (am *alertmanager) postAlerts(t *testing.T, alerts ...postableAlert) {
	t.Helper()
	body, err := json.Marshal(alerts)
	if err != nil {
		t.Fatalf("encoding alerts: %v", err)
	}
	resp, err := client.Post(am.url+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /api/v2/alerts: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /api/v2/alerts answered %s: %s", resp.Status, msg)
	}
}
