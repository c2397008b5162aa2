package publish

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/am-fanout/am-fanout/core"
)

// ChatEmoji marks an alert's state in chat messages (Slack, Discord).
var ChatEmoji = StateStyle[string]{Resolved: "✅", Critical: "🔴", Warning: "🟠", Info: "🔵"}

// ChatTitle is "[FIRING] AlertName".
func ChatTitle(a *core.EnrichedAlert) string {
	name := a.Alert.Labels["alertname"]
	if name == "" {
		name = "alert " + a.Alert.Fingerprint
	}
	return fmt.Sprintf("[%s] %s", strings.ToUpper(string(a.Alert.Status)), name)
}

// LabelOrder lists the label names but alertname, which the title
// shows: the key labels first, in this order, then the others by name.
func LabelOrder(labels map[string]string) []string {
	keyLabels := []string{"severity", "cluster", "namespace", "service", "job", "instance"}
	rank := func(n string) int {
		if i := slices.Index(keyLabels, n); i >= 0 {
			return i
		}
		return len(keyLabels)
	}
	names := slices.DeleteFunc(slices.Collect(maps.Keys(labels)), func(n string) bool { return n == "alertname" })
	slices.SortFunc(names, func(x, y string) int {
		return cmp.Or(cmp.Compare(rank(x), rank(y)), strings.Compare(x, y))
	})
	return names
}

// ChatLinks lists the alert's links with display names: the well-known
// ones first, the generator URL as "Source" when enrichment did not name
// a source, then the others under their own names.
func ChatLinks(a *core.EnrichedAlert) []core.Link {
	known := []string{core.LinkSource, core.LinkRunbook, core.LinkDashboard, core.LinkSilence}
	var out []core.Link
	for _, name := range known {
		u := a.Link(name)
		if u == "" && name == core.LinkSource {
			u = a.Alert.GeneratorURL
		}
		if u != "" {
			out = append(out, core.Link{Name: strings.ToUpper(name[:1]) + name[1:], URL: u})
		}
	}
	for _, l := range a.Links {
		if !slices.Contains(known, l.Name) {
			out = append(out, l)
		}
	}
	return out
}

// LabelList renders labels as `a="1", b="2"`, sorted by name.
func LabelList(labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, n := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, fmt.Sprintf("%s=%q", n, labels[n]))
	}
	return strings.Join(parts, ", ")
}
