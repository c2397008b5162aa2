package publish

import (
	"cmp"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/am-fanout/am-fanout/core"
)

// ErrNoGroupKey is the cause of a group delivery's failure when the
// notification carries no group key: the incident it opens could never
// be told apart from another group's, nor closed.
var ErrNoGroupKey = errors.New("the notification has no groupKey, which identifies its incident")

// GroupIncidentKey is the dedup key (PagerDuty) and alias (Opsgenie, JSM)
// of a notification's incident: GroupKeyHash of its group key, as
// Alertmanager derives them. Without a group key it fails permanently.
func GroupIncidentKey(n *core.Notification) (string, error) {
	if n.Group.GroupKey == "" {
		return "", core.Permanent(0, ErrNoGroupKey)
	}
	return GroupKeyHash(n.Group.GroupKey), nil
}

// GroupSubject is Alertmanager's default title of a notification (its
// "__subject" template): "[FIRING:2] group label values (other common
// label values)", or "[RESOLVED] ..." once every alert is resolved.
func GroupSubject(n *core.Notification) string {
	d := AlertmanagerNotification(n).Data
	var b strings.Builder
	b.WriteString("[" + strings.ToUpper(d.Status))
	if d.Status == string(core.StatusFiring) {
		b.WriteString(":" + strconv.Itoa(len(d.Alerts.Firing())))
	}
	b.WriteString("] " + strings.Join(d.GroupLabels.Values(), " "))
	if len(d.CommonLabels) > len(d.GroupLabels) {
		b.WriteString(" (" + strings.Join(d.CommonLabels.Remove(d.GroupLabels.Names()).Values(), " ") + ")")
	}
	return strings.TrimSpace(b.String())
}

// UrgentFirst lists the notification's alerts in the order a responder
// reads them and a size limit cuts them: firing before resolved, then by
// severity (critical first), by the priority a rule set (P1 first), by
// start (oldest first) and by fingerprint.
func UrgentFirst(n *core.Notification) []*core.EnrichedAlert {
	out := make([]*core.EnrichedAlert, len(n.Alerts))
	for i := range n.Alerts {
		out[i] = &n.Alerts[i]
	}
	slices.SortStableFunc(out, func(x, y *core.EnrichedAlert) int {
		return cmp.Or(
			cmp.Compare(statusRank(x.Alert.Status), statusRank(y.Alert.Status)),
			cmp.Compare(SeverityRank(x.Classification.Severity), SeverityRank(y.Classification.Severity)),
			cmp.Compare(priorityRank(x.Classification.Priority), priorityRank(y.Classification.Priority)),
			x.Alert.StartsAt.Compare(y.Alert.StartsAt),
			strings.Compare(x.Alert.Fingerprint, y.Alert.Fingerprint),
		)
	})
	return out
}

// MostUrgent is the first alert of UrgentFirst, nil for no alerts: the
// one whose severity and priority a group's incident takes.
func MostUrgent(n *core.Notification) *core.EnrichedAlert {
	if len(n.Alerts) == 0 {
		return nil
	}
	return UrgentFirst(n)[0]
}

func statusRank(s core.AlertStatus) int {
	if s == core.StatusFiring {
		return 0
	}
	return 1
}

// SeverityRank orders severities from the most urgent (0, critical) to
// none at all.
func SeverityRank(s core.Severity) int {
	switch s {
	case core.SeverityCritical:
		return 0
	case core.SeverityWarning:
		return 1
	case core.SeverityInfo:
		return 2
	}
	return 3
}

// priorityRank orders P1..P5 first to last, anything else after them.
func priorityRank(p string) int {
	if len(p) == 2 && p[0] == 'P' && p[1] >= '1' && p[1] <= '5' {
		return int(p[1] - '1')
	}
	return 5
}
