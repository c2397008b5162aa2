package enrich

import (
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/alertmanager/template"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
)

func TestLinks(t *testing.T) {
	const am = "http://am.example.com:9093"
	silenceA := am + "/#/silences/new?filter=%7Balertname%3D%22A%22%7D"
	tests := []struct {
		name        string
		generator   string
		annotations template.KV
		externalURL string
		want        []core.Link
	}{
		{name: "nothing to link", want: []core.Link{}},
		{
			name:      "generator URL is the source link",
			generator: "http://prometheus:9090/graph?g0.expr=up",
			want:      []core.Link{{Name: core.LinkSource, URL: "http://prometheus:9090/graph?g0.expr=up"}},
		},
		{
			name:        "runbook_url wins over runbook",
			annotations: template.KV{"runbook_url": "https://rb.example.com/1", "runbook": "https://rb.example.com/2"},
			want:        []core.Link{{Name: core.LinkRunbook, URL: "https://rb.example.com/1"}},
		},
		{
			name:        "runbook is used when runbook_url is not a URL",
			annotations: template.KV{"runbook_url": "see wiki", "runbook": "https://rb.example.com/2"},
			want:        []core.Link{{Name: core.LinkRunbook, URL: "https://rb.example.com/2"}},
		},
		{
			name:        "dashboard_url, then dashboard, then grafana_url",
			annotations: template.KV{"dashboard": "https://g.example.com/2", "grafana_url": "https://g.example.com/3"},
			want:        []core.Link{{Name: core.LinkDashboard, URL: "https://g.example.com/2"}},
		},
		{
			name:        "grafana_url as the last choice",
			annotations: template.KV{"grafana_url": "https://g.example.com/3"},
			want:        []core.Link{{Name: core.LinkDashboard, URL: "https://g.example.com/3"}},
		},
		{
			name:      "only absolute http(s) URLs become links",
			generator: "/graph?g0.expr=up",
			annotations: template.KV{
				"runbook_url": "javascript:alert(1)", "runbook": "ftp://rb.example.com/x",
				"dashboard_url": "https://", "dashboard": "grafana/d/x", "grafana_url": "mailto:ops@example.com",
			},
			externalURL: "am.example.com",
			want:        []core.Link{},
		},
		{
			name:        "silence link from the external URL",
			externalURL: am,
			want:        []core.Link{{Name: core.LinkSilence, URL: silenceA}},
		},
		{
			name:        "trailing slash of the external URL is dropped",
			externalURL: am + "/",
			want:        []core.Link{{Name: core.LinkSilence, URL: silenceA}},
		},
		{
			name:        "all links in a fixed order",
			generator:   "https://prometheus/graph",
			annotations: template.KV{"grafana_url": "https://g/1", "runbook": "https://rb/1"},
			externalURL: am,
			want: []core.Link{
				{Name: core.LinkSource, URL: "https://prometheus/graph"},
				{Name: core.LinkRunbook, URL: "https://rb/1"},
				{Name: core.LinkDashboard, URL: "https://g/1"},
				{Name: core.LinkSilence, URL: silenceA},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := firing(template.KV{"alertname": "A"})
			a.GeneratorURL, a.Annotations = tt.generator, tt.annotations
			msg := message(a)
			msg.ExternalURL = tt.externalURL
			got := New(nil, fixedNow).Enrich(msg)[0].Links
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLinksFromRuleAnnotations(t *testing.T) {
	r := rule(t, "runbooks", `alertname="A"`)
	r.Annotations = map[string]string{"runbook_url": "https://rb.example.com/a"}
	got := New([]config.Rule{r}, fixedNow).Enrich(message(firing(template.KV{"alertname": "A"})))[0]
	assert.Equal(t, "https://rb.example.com/a", got.Link(core.LinkRunbook), "a rule's runbook annotation must become a link")
}

// TestSilenceFilterParsesBack proves the filter is one Alertmanager reads:
// it must parse back into exactly the alert's labels, however odd their
// values, and only the labels Alertmanager knows (not those rules added).
func TestSilenceFilterParsesBack(t *testing.T) {
	ls := template.KV{
		"alertname": "Disk Full", "path": `C:\data "main"`, "query": "a=b&c=d+e#f",
		"msg": "line1\nline2", "unicode": "ünïcödé ✓", "zz": "",
	}
	r := rule(t, "owner")
	r.Labels = map[string]string{"owner": "storage"}
	msg := message(firing(ls))
	msg.ExternalURL = "https://am.example.com/alertmanager"
	got := New([]config.Rule{r}, fixedNow).Enrich(msg)[0].Link(core.LinkSilence)

	prefix := "https://am.example.com/alertmanager/#/silences/new?filter="
	require.True(t, strings.HasPrefix(got, prefix), "silence link %q", got)
	escaped := strings.TrimPrefix(got, prefix)
	assert.NotContains(t, escaped, "+", "spaces must be %%20, a '+' would be read literally")
	filter, err := url.QueryUnescape(escaped)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(filter, `{alertname="Disk Full", msg=`), "labels in name order, comma and space apart: %s", filter)

	ms, err := labels.ParseMatchers(filter)
	require.NoError(t, err, "Alertmanager must parse the filter %s", filter)
	back := map[string]string{}
	for _, m := range ms {
		assert.Equal(t, labels.MatchEqual, m.Type, "matcher %s", m)
		back[m.Name] = m.Value
	}
	assert.Equal(t, map[string]string(ls), back, "the filter must select exactly the received labels")
}

func TestWriteMatcherAgreesWithAlertmanager(t *testing.T) {
	tests := []struct{ name, value string }{
		{"alertname", "A"},
		{"path", `C:\data "main"`},
		{"msg", "line1\nline2\ttab"},
		{"empty", ""},
		{"unicode", "ünïcödé ✓"},
		{"with space", `v "q"`},
		{"a=b", "x"},
		{"ünïcode_name", "v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			writeMatcher(&b, tt.name, tt.value)
			m := labels.Matcher{Type: labels.MatchEqual, Name: tt.name, Value: tt.value}
			assert.Equal(t, m.String(), b.String())
		})
	}
}
