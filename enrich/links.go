package enrich

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/am-fanout/am-fanout/core"
)

// The annotations a link is taken from, first valid one wins.
var (
	runbookAnnotations   = []string{"runbook_url", "runbook"}
	dashboardAnnotations = []string{"dashboard_url", "dashboard", "grafana_url"}
)

// links derives the links of an alert: its generator, runbook, dashboard
// and a pre-filled Alertmanager silence form. received are the labels as
// Alertmanager sent them: a silence only matches labels Alertmanager knows,
// not those a rule added.
func links(a *core.Alert, received map[string]string, externalURL string) []core.Link {
	out := make([]core.Link, 0, 4)
	add := func(name, u string) {
		if isHTTPURL(u) {
			out = append(out, core.Link{Name: name, URL: u})
		}
	}
	add(core.LinkSource, a.GeneratorURL)
	add(core.LinkRunbook, firstHTTPURL(a.Annotations, runbookAnnotations))
	add(core.LinkDashboard, firstHTTPURL(a.Annotations, dashboardAnnotations))
	if isHTTPURL(externalURL) {
		out = append(out, core.Link{Name: core.LinkSilence, URL: silenceURL(externalURL, received)})
	}
	return out
}

func firstHTTPURL(annotations map[string]string, keys []string) string {
	for _, k := range keys {
		if u := annotations[k]; isHTTPURL(u) {
			return u
		}
	}
	return ""
}

// isHTTPURL accepts absolute http and https URLs only, so that a link is
// always something a responder can click.
func isHTTPURL(s string) bool {
	if s == "" {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// silenceURL links to Alertmanager's new-silence form with a filter that
// matches exactly the alert's labels, in label name order, written the way
// Alertmanager prints matchers.
func silenceURL(externalURL string, ls map[string]string) string {
	names := make([]string, 0, len(ls))
	for n := range ls {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		writeMatcher(&b, n, ls[n])
	}
	b.WriteByte('}')
	// QueryEscape writes spaces as '+', which the UI would keep literally.
	filter := strings.ReplaceAll(url.QueryEscape(b.String()), "+", "%20")
	return strings.TrimSuffix(externalURL, "/") + "/#/silences/new?filter=" + filter
}

// valueEscaper escapes a label value the way OpenMetrics and Alertmanager's
// matchers do. A Replacer is safe for concurrent use.
var valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

// writeMatcher writes name="value" exactly as labels.Matcher.String does
// for an equality matcher; that method builds a new Replacer on every call,
// which made it most of Enrich's cost.
func writeMatcher(b *strings.Builder, name, value string) {
	if strings.ContainsFunc(name, isReserved) {
		b.WriteString(strconv.Quote(name))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(value))
		return
	}
	b.WriteString(name)
	b.WriteString(`="`)
	b.WriteString(valueEscaper.Replace(value))
	b.WriteByte('"')
}

// isReserved reports the runes that make Alertmanager quote a label name.
func isReserved(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("{}!=~,\\\"'`", r)
}
