package genie

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// tags are the configured tags, then one "name:value" tag per
// label in name order, each cut to 50 characters. Past 20 tags the last
// one says how many were left out.
func tags(static []string, labels map[string]string) []string {
	tags := slices.Clone(static)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		t, _ := publish.TruncateRunes(k+":"+labels[k], MaxTagLen)
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if len(tags) > MaxTags {
		kept := MaxTags - 1
		tags = append(tags[:kept], fmt.Sprintf("+%d more", len(tags)-kept))
	}
	return tags
}

// description is the default description: the alert's text, its
// labels, its other annotations and its links in enrichment order, as
// plain text.
func description(a *core.EnrichedAlert) string {
	var b strings.Builder
	text := a.Alert.Annotations["description"]
	if text == "" {
		text = a.Summary()
	}
	fmt.Fprintf(&b, "%s\n", text)
	section := func(title string, m map[string]string, skip string) {
		keys := slices.DeleteFunc(slices.Sorted(maps.Keys(m)), func(k string) bool { return k == skip })
		if len(keys) == 0 {
			return
		}
		fmt.Fprintf(&b, "\n%s:\n", title)
		for _, k := range keys {
			fmt.Fprintf(&b, "- %s: %s\n", k, m[k])
		}
	}
	section("Labels", a.Alert.Labels, "")
	section("Annotations", a.Alert.Annotations, "description")
	for i, l := range slices.DeleteFunc(slices.Clone(a.Links), func(l core.Link) bool { return l.URL == "" }) {
		if i == 0 {
			b.WriteString("\nLinks:\n")
		}
		fmt.Fprintf(&b, "- %s: %s\n", publish.IncidentLinkText(l.Name), l.URL)
	}
	if !a.Alert.StartsAt.IsZero() {
		fmt.Fprintf(&b, "\nStarted: %s\n", a.Alert.StartsAt.UTC().Format(time.RFC3339))
	}
	return strings.TrimSpace(b.String())
}

// details are the alert's labels and annotations (an annotation
// named like a label is keyed "annotation:<name>"). Until keys and values
// total at most 8000 characters, the biggest values are cut first, down
// to a common length (see publish.CutLevel), and named under am_fanout_trimmed;
// if keys alone are too many, the last ones by name are dropped. It
// returns the names of the cut values.
func details(a *core.EnrichedAlert) (map[string]string, []string) {
	return detailsOf(a.Alert.Labels, a.Alert.Annotations)
}

// detailsOf are details of labels and annotations, fitted as details
// describes.
func detailsOf(labels, annotations map[string]string) (map[string]string, []string) {
	d := maps.Clone(labels)
	if d == nil {
		d = map[string]string{}
	}
	for k, v := range annotations {
		if _, clash := d[k]; clash {
			k = "annotation:" + k
		}
		d[k] = v
	}
	var trimmed []string
	for {
		excess := detailsLen(d) - maxDetails
		if excess <= 0 {
			return d, trimmed
		}
		cut := cutValues(d, excess)
		if len(cut) == 0 {
			keys := slices.Sorted(maps.Keys(d))
			delete(d, keys[len(keys)-1])
			continue
		}
		for _, k := range cut {
			if !slices.Contains(trimmed, k) {
				trimmed = append(trimmed, k)
			}
		}
		slices.Sort(trimmed)
		d[trimmedKey] = strings.Join(trimmed, ",")
	}
}

// cutValues cuts the values longer than the level that frees excess
// characters, never the trimmed list itself, and returns their keys.
func cutValues(d map[string]string, excess int) []string {
	lens := make([]int, 0, len(d))
	for k, v := range d {
		if k != trimmedKey {
			lens = append(lens, utf8.RuneCountInString(v))
		}
	}
	level := publish.CutLevel(lens, excess, utf8.RuneCountInString(publish.Ellipsis))
	var cut []string
	for k, v := range d {
		if k != trimmedKey && utf8.RuneCountInString(v) > level {
			d[k], _ = publish.TruncateRunes(v, level)
			cut = append(cut, k)
		}
	}
	return cut
}

func detailsLen(d map[string]string) int {
	n := 0
	for k, v := range d {
		n += utf8.RuneCountInString(k) + utf8.RuneCountInString(v)
	}
	return n
}
