package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// CutLevel is the highest length L such that cutting every value longer
// than L down to L frees at least excess; never below floor, the length of
// the ellipsis a cut value ends with.
func CutLevel(lens []int, excess, floor int) int {
	freed := func(level int) int {
		n := 0
		for _, l := range lens {
			n += max(l-level, 0)
		}
		return n
	}
	lo, hi := floor, slices.Max(append(lens, floor))
	for lo < hi { // the highest level in [lo, hi] with freed(level) >= excess
		mid := (lo + hi + 1) / 2
		if freed(mid) >= excess {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// IncidentKey identifies the alert to PagerDuty (dedup_key) and Opsgenie
// (alias): its Alertmanager fingerprint, which depends only on its
// labels, so the trigger and the resolve of one alert share it across
// restarts and across Alertmanager replicas. Without a usable fingerprint it is a hash of the labels.
func IncidentKey(a *core.EnrichedAlert) string {
	if fp := a.Alert.Fingerprint; fp != "" && len(fp) <= maxIncidentKey {
		return fp
	}
	return incidentLabelsHash(a.Alert.Labels)
}

// incidentLabelsHash is a hex SHA-256 of the sorted label pairs: a stable identity
// for an alert that carries no fingerprint.
func incidentLabelsHash(ls map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(ls)) {
		fmt.Fprintf(h, "%s\x00%s\x00", k, ls[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// IncidentHeadline is a one-line title: the alert name and its summary, or
// whichever of the two exists.
func IncidentHeadline(a *core.EnrichedAlert) string {
	name, summary := a.Alert.Labels["alertname"], a.Summary()
	if name == "" || summary == name {
		return summary
	}
	return name + ": " + summary
}

// IncidentLinkText is the text shown for a link enrichment derived.
func IncidentLinkText(name string) string {
	switch name {
	case core.LinkSource:
		return "Alert source"
	case core.LinkRunbook:
		return "Runbook"
	case core.LinkDashboard:
		return "Dashboard"
	case core.LinkSilence:
		return "Silence this alert"
	}
	return TitleOfLink(name)
}

// TitleOfLink names a link for people: "runbook" becomes "Runbook".
func TitleOfLink(name string) string {
	if name == "" {
		return "Link"
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// FiringKey names one firing of an alert: its fingerprint and start, as
// Alertmanager identifies it. A later firing of the same alert starts at
// another time and gets another key. The target is named by the State.
func FiringKey(a *core.EnrichedAlert) string {
	return a.Alert.Fingerprint + "@" + a.Alert.StartsAt.UTC().Format(time.RFC3339Nano)
}

// maxIncidentKey is the longest key IncidentKey returns: PagerDuty's
// dedup_key takes at most 255 characters, Opsgenie's alias 512.
const maxIncidentKey = 255
