package receiver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/core"
)

func getPage(t *testing.T, src StatusSource) string {
	t.Helper()
	srv := httptest.NewServer(PageHandler(src, func() time.Time { return failAt }))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// rowOf returns the opening tag of a target's table row.
func rowOf(t *testing.T, page, name string) string {
	t.Helper()
	row := regexp.MustCompile(`<tr class="[^"]*" data-target="` + regexp.QuoteMeta(name) + `"[^>]*>`).FindString(page)
	require.NotEmpty(t, row, "the page must have a row for target %s", name)
	return row
}

func TestStatusPage(t *testing.T) {
	page := getPage(t, sampleSource())
	tests := []struct {
		name string
		want string
	}{
		{"refreshes itself every 10s", `<meta http-equiv="refresh" content="10">`},
		{"links to the metrics", `href="/metrics"`},
		{"links to the targets API", `href="/api/v1/targets"`},
		{"links to the status API", `href="/api/v1/status"`},
		{"links each target to its delivery history", `href="/api/v1/deliveries?target=ticketing"`},
		{"looks up an alert's delivery history", `<form id="history" action="/api/v1/deliveries" method="get">`},
		{"shows each target's lane", `data-lane="`},
		{"shows the version", "1.2.3"},
		{"shows a failed reload with its error", "targets/ticketing.yml:4: duplicate target name"},
		{"shows where a target came from", "targets/ticketing.yml:2"},
		{"shows a target's matchers, escaped", "severity=&#34;critical&#34;"},
		{"shows the last error, escaped", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; HTTP 503"},
		{"shows the probe's error", "GET: HTTP 503"},
		{"shows the last failure time", "2026-03-01 11:00:00 UTC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Contains(t, page, tt.want)
		})
	}
	assert.NotContains(t, page, "<script>", "text from targets must never become markup")
}

func TestStatusPageColours(t *testing.T) {
	row := func(name string, h core.HealthStatus, breaker string) TargetStatus {
		return TargetStatus{Name: name, Health: core.TargetHealth{Status: h}, Breaker: BreakerStatus{State: breaker}}
	}
	src := fixedSource{targets: []TargetStatus{
		row("up", core.HealthHealthy, "closed"),
		row("new", core.HealthUnknown, "closed"),
		row("slow", core.HealthDegraded, "closed"),
		row("trying", core.HealthHealthy, "half-open"),
		row("down", core.HealthUnhealthy, "closed"),
		row("tripped", core.HealthHealthy, "open"),
		row("both", core.HealthDegraded, "open"),
		{Name: "deleted", Health: core.TargetHealth{Status: core.HealthHealthy}, Breaker: BreakerStatus{State: "closed"},
			State: TargetGone, Gone: &GoneStatus{Since: failAt, Error: "HTTP 404: target is gone: discord error 10015: Unknown Webhook"}},
	}, status: Status{LastReload: Reload{Success: true, At: started}}}
	page := getPage(t, src)
	for name, want := range map[string]string{
		"up": "row-plain", "new": "row-plain", "slow": "row-amber", "trying": "row-amber",
		"down": "row-red", "tripped": "row-red", "both": "row-red", "deleted": "row-red",
	} {
		assert.Contains(t, rowOf(t, page, name), want, "target %s's row colour", name)
	}
	assert.Contains(t, rowOf(t, page, "deleted"), `data-state="gone"`, "a gone target's row says so")
	assert.Contains(t, page, "since 2026-03-01 11:00:00 UTC, skipped until its configuration changes", "a gone target's page says since when and what to do")
	assert.Contains(t, page, "discord error 10015: Unknown Webhook", "a gone target's page says why")
	assert.NotContains(t, page, `id="reload-error"`, "a successful reload shows no error")
}

func TestStatusPageWithoutTargets(t *testing.T) {
	page := getPage(t, fixedSource{status: Status{LastReload: Reload{Success: true}}})
	assert.Contains(t, page, "No targets are configured.")
}
