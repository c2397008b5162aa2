package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// sendTestForm is the status page's "Send test" form of one target.
var sendTestForm = regexp.MustCompile(`<form class="send-test" method="post" action="([^"]+)"><button type="submit">Send test</button></form>`)

// TestSendTestFromTheStatusPage: with --web.enable-admin-api the status
// page offers a "Send test" button per target, and posting its form
// delivers a test notification and its resolve to that target. Chromium,
// when installed, checks the button in a real browser.
func TestSendTestFromTheStatusPage(t *testing.T) {
	target := newTargetServer(t, http.StatusOK)
	f := startFanout(t, fmt.Sprintf(`
targets:
  - name: ticketing
    type: webhook
    url: %s
`, target.URL()), "--web.enable-admin-api")

	page := getBody(t, f.url+"/")
	if chromium, err := exec.LookPath("chromium"); err == nil {
		page = dumpDOM(t, chromium, f.url+"/")
	}
	forms := sendTestForm.FindAllStringSubmatch(page, -1)
	if len(forms) != 1 || forms[0][1] != "/api/v1/targets/ticketing/test" {
		t.Fatalf("the page should offer one Send test button, for ticketing; forms: %v\n%s", forms, page)
	}

	resp, err := client.Post(f.url+forms[0][1], "application/x-www-form-urlencoded", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var rep struct {
		Delivered bool `json:"delivered"`
		Steps     []struct {
			Status, Outcome string
		} `json:"steps"`
	}
	if err := json.Unmarshal(body, &rep); err != nil || resp.StatusCode != http.StatusOK || !rep.Delivered || len(rep.Steps) != 2 {
		t.Fatalf("posting the Send test form: HTTP %d, %s", resp.StatusCode, body)
	}
	msgs := target.amMessages(t)
	if len(msgs) != 2 {
		t.Fatalf("the target received %d notifications, want the test and its resolve", len(msgs))
	}
	for i, status := range []string{"firing", "resolved"} {
		a := msgs[i].Alerts[0]
		if a.Status != status || a.Labels["alertname"] != "AmFanoutTest" || a.Labels["test"] != "true" {
			t.Errorf("notification %d: status %q, labels %v; want a %s AmFanoutTest with test=\"true\"", i, a.Status, a.Labels, status)
		}
	}
}

// TestStatusPageHasNoSendTestWithoutTheAdminAPI: by default the page
// offers no test send, and the endpoint names the flag that enables it.
func TestStatusPageHasNoSendTestWithoutTheAdminAPI(t *testing.T) {
	target := newTargetServer(t, http.StatusOK)
	f := startFanout(t, fmt.Sprintf("targets:\n  - name: ticketing\n    type: webhook\n    url: %s\n", target.URL()))
	if page := getBody(t, f.url+"/"); strings.Contains(page, "Send test") {
		t.Errorf("without --web.enable-admin-api the page offers a test send:\n%s", page)
	}
	resp, err := client.Post(f.url+"/api/v1/targets/ticketing/test", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "--web.enable-admin-api") {
		t.Errorf("without the flag: HTTP %d, %s; want 403 naming --web.enable-admin-api", resp.StatusCode, body)
	}
	if n := len(target.deliveries()); n != 0 {
		t.Errorf("a refused test send delivered %d notifications", n)
	}
}

func getBody(t *testing.T, url string) string {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: HTTP %d, %v", url, resp.StatusCode, err)
	}
	return string(body)
}
