package publish

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/am-fanout/am-fanout/core"
)

// ChatGroupAlerts are the notification's alerts in the order a group
// message shows them: firing first, then resolved, each in the order
// Alertmanager sent them.
func ChatGroupAlerts(n *core.Notification) []*core.EnrichedAlert {
	return append(n.Firing(), n.Resolved()...)
}

// ChatGroupTitle is Alertmanager's title of a group message with both
// counts: "[FIRING:3] HighLatency checkout", "[FIRING:2, RESOLVED:1] …",
// "[RESOLVED:3] …", followed by the values of the group labels, sorted by
// name, or the common alert name when the group has no labels.
func ChatGroupTitle(n *core.Notification) string {
	firing, resolved := len(n.Firing()), len(n.Resolved())
	var counts []string
	if firing > 0 {
		counts = append(counts, fmt.Sprintf("FIRING:%d", firing))
	}
	if resolved > 0 || firing == 0 {
		counts = append(counts, fmt.Sprintf("RESOLVED:%d", resolved))
	}
	var values []string
	for _, k := range slices.Sorted(maps.Keys(n.Group.GroupLabels)) {
		values = append(values, n.Group.GroupLabels[k])
	}
	if len(values) == 0 {
		if name := ChatGroupCommonLabels(n)["alertname"]; name != "" {
			values = []string{name}
		} else if n.Group.Receiver != "" {
			values = []string{n.Group.Receiver}
		}
	}
	return strings.TrimSpace("[" + strings.Join(counts, ", ") + "] " + strings.Join(values, " "))
}

// ChatGroupCommonLabels are the labels every alert of the notification
// carries with the same value: shown once at the top of a group message.
// They are computed over the alerts the target selected, which may share
// more than the whole group Alertmanager sent.
func ChatGroupCommonLabels(n *core.Notification) map[string]string {
	if len(n.Alerts) == 0 {
		return maps.Clone(n.Group.CommonLabels)
	}
	common := maps.Clone(n.Alerts[0].Alert.Labels)
	for i := range n.Alerts[1:] {
		labels := n.Alerts[i+1].Alert.Labels
		maps.DeleteFunc(common, func(k, v string) bool { w, ok := labels[k]; return !ok || w != v })
	}
	if common == nil {
		common = map[string]string{}
	}
	return common
}

// ChatDistinctLabels are the labels of the alert that are not common to
// the group, in LabelOrder, alertname first when it is one of them.
func ChatDistinctLabels(a *core.EnrichedAlert, common map[string]string) []string {
	distinct := maps.Clone(a.Alert.Labels)
	maps.DeleteFunc(distinct, func(k, v string) bool { w, ok := common[k]; return ok && w == v })
	names := LabelOrder(distinct)
	if _, ok := distinct["alertname"]; ok {
		names = append([]string{"alertname"}, names...)
	}
	return names
}

// ChatGroupMore says how many alerts a group message leaves out: those
// it had no room for and those Alertmanager cut from the notification
// (its max_alerts), "" when none.
func ChatGroupMore(n *core.Notification, shown int) string {
	left := len(n.Alerts) - shown
	cut := int(n.Group.TruncatedAlerts)
	switch {
	case left+cut == 0:
		return ""
	case cut == 0:
		return fmt.Sprintf("…and %d more %s", left, alerts(left))
	case left == 0:
		return fmt.Sprintf("…and %d more %s that Alertmanager left out of the notification", cut, alerts(cut))
	}
	return fmt.Sprintf("…and %d more %s (%d of them left out of the notification by Alertmanager)", left+cut, alerts(left+cut), cut)
}

func alerts(n int) string {
	if n == 1 {
		return "alert"
	}
	return "alerts"
}

// OfGroup picks the style of a notification: resolved once every alert
// is, else that of its most severe firing alert.
func (s StateStyle[T]) OfGroup(n *core.Notification) T {
	firing := n.Firing()
	if len(firing) == 0 {
		return s.Resolved
	}
	worst := firing[0]
	for _, a := range firing[1:] {
		if SeverityRank(a.Classification.Severity) < SeverityRank(worst.Classification.Severity) {
			worst = a
		}
	}
	return s.Of(worst)
}

// CutStep is one way of making a message smaller: Remove(n) takes n of
// its Max units away (alerts, links, characters), counted from none, so
// Remove(0) restores them.
type CutStep struct {
	Max    int
	Remove func(n int)
}

// ChatGroupCut is how much of its alerts a chat group message shows, as
// its fit cuts them.
type ChatGroupCut struct {
	Keep     int  // alerts shown in full, from the first
	DropLong bool // links with a long URL left out
	LineMax  int  // characters of an alert's summary and labels line
	NoLinks  bool // no alert shows its links
}

// Steps are the first cuts of a chat group message, in order: alerts from
// the last down to floor, long links, alerts down to the first, the
// alerts' lines from LineMax down to lineMin characters, their links.
func (c *ChatGroupCut) Steps(floor, lineMin int) []CutStep {
	first, floor, lineMax := c.Keep, min(c.Keep, floor), c.LineMax
	return []CutStep{
		{Max: first - floor, Remove: func(k int) { c.Keep = first - k }},
		{Max: 1, Remove: func(k int) { c.DropLong = k == 1 }},
		{Max: max(floor-1, 0), Remove: func(k int) { c.Keep = floor - k }},
		{Max: lineMax - lineMin, Remove: func(k int) { c.LineMax = lineMax - k }},
		{Max: 1, Remove: func(k int) { c.NoLinks = k == 1 }},
	}
}

// CutText is the step that shortens the text *s by up to all its
// characters, ending it with an ellipsis once cut.
func CutText(s *string) CutStep {
	full := []rune(*s)
	return CutStep{Max: len(full), Remove: func(n int) { *s, _ = TruncateRunes(string(full), len(full)-n) }}
}

// Cut makes a message fit by priority: it applies steps in order, each
// removing as few units as it must once the ones before it removed all
// theirs, and reports whether the message fits. fits must not get false
// as a step removes more.
func Cut(steps []CutStep, fits func() bool) bool {
	if fits() {
		return true
	}
	for _, s := range steps {
		n := sort.Search(s.Max+1, func(n int) bool { s.Remove(n); return fits() })
		if n <= s.Max {
			s.Remove(n)
			return true
		}
		s.Remove(s.Max)
	}
	return false
}
