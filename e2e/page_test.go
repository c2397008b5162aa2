package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"testing"
	"time"
)

// chromiumArgs render a page headless with nothing but the page itself:
// no sandbox (containers), no GPU, no background traffic.
var chromiumArgs = []string{
	"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync",
}

// dumpDOM loads url in headless Chromium and returns the DOM it built.
func dumpDOM(t *testing.T, chromium, url string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append(append([]string{}, chromiumArgs...), "--user-data-dir="+t.TempDir(), "--dump-dom", url)
	out, err := exec.CommandContext(ctx, chromium, args...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v", url, err)
	}
	return string(out)
}

// TestStatusPageInChromium loads the status page in a real browser: it
// must list every target, and a target that is down must show red.
func TestStatusPageInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian: apt-get install -y chromium); skipping the browser check of the status page")
	}
	up, down := newTargetServer(t, http.StatusOK), newTargetServer(t, http.StatusServiceUnavailable)
	f := startFanout(t, fmt.Sprintf(`
defaults:
  breaker: {failures: 10, open_for: 1m}
targets:
  - name: ticketing
    type: webhook
    url: %s
  - name: broken-hook
    type: webhook
    url: %s
  - name: audit
    type: file
    path: audit.jsonl
`, up.URL(), down.URL()))
	for i := range 3 {
		labels := map[string]string{"alertname": fmt.Sprintf("PageCheck%d", i), "severity": "critical"}
		if code, _, _, raw := f.postWebhook(t, v4Payload(t, "firing", labels)); code != http.StatusOK {
			t.Fatalf("alert %d: /webhook answered %d: %s", i, code, raw)
		}
	}

	// The broken target's lane probes it one delivery at a time: three
	// failures make it unhealthy within a few seconds of backoff.
	f.waitMetric(t, "am_fanout_target_health", map[string]string{"target": "broken-hook"}, 3)
	f.waitMetric(t, "am_fanout_target_health", map[string]string{"target": "ticketing"}, 1)
	dom := dumpDOM(t, chromium, f.url+"/")
	rows := regexp.MustCompile(`<tr class="row-(\w+)" data-target="([^"]+)" data-health="(\w+)"`).FindAllStringSubmatch(dom, -1)
	got := map[string][2]string{}
	for _, r := range rows {
		got[r[2]] = [2]string{r[1], r[3]}
	}
	want := map[string][2]string{
		"ticketing":   {"plain", "healthy"},
		"broken-hook": {"red", "unhealthy"},
		"audit":       {"plain", "healthy"},
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("the page in Chromium does not show target %s; rows: %v", name, got)
		case g != w:
			t.Errorf("target %s shows as row colour %q, health %q; want %q, %q", name, g[0], g[1], w[0], w[1])
		}
	}
	if len(got) != len(want) {
		t.Errorf("the page shows %d targets, want %d: %v", len(got), len(want), got)
	}
	for _, text := range []string{"HTTP 503", `href="/metrics"`, `http-equiv="refresh"`} {
		if !regexp.MustCompile(regexp.QuoteMeta(text)).MatchString(dom) {
			t.Errorf("the page in Chromium lacks %q", text)
		}
	}
}
