package outbox

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
)

// The records the store writes for every delivery (history.go) are
// encoded by appending, as encoding/json would encode them, without its
// reflection: it was the history's largest cost per attempt. Reading
// them back is encoding/json's.

// appendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 as U+FFFD, as encoding/json
// writes it (which also escapes <, > and &; JSON does not need it).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON, escaped by encoding/json for
		// JavaScript's sake; kept so that both encodings read alike.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339
// with nanoseconds, quoted).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONArray appends xs as a JSON array of what add appends for
// each; nil as null, as encoding/json writes a nil slice.
func appendJSONArray[T any](b []byte, xs []T, add func([]byte, *T) []byte) []byte {
	if xs == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i := range xs {
		if i > 0 {
			b = append(b, ',')
		}
		b = add(b, &xs[i])
	}
	return append(b, ']')
}

// appendJSON appends h as json.Marshal encodes it.
func (h *History) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, h.ID, 10)
	b = append(b, `,"target":`...)
	b = appendJSONString(b, h.Target)
	b = append(b, `,"fingerprints":`...)
	b = appendJSONArray(b, h.Fingerprints, func(b []byte, fp *string) []byte { return appendJSONString(b, *fp) })
	if h.AlertName != "" {
		b = append(b, `,"alertname":`...)
		b = appendJSONString(b, h.AlertName)
	}
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(h.Status))
	if h.Group {
		b = append(b, `,"group":true`...)
	}
	b = append(b, `,"accepted_at":`...)
	b = appendJSONTime(b, h.AcceptedAt)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, h.State)
	b = append(b, `,"attempts":`...)
	b = appendJSONArray(b, h.Attempts, func(b []byte, a *Attempt) []byte { return a.appendJSON(b) })
	if h.AttemptsOmitted != 0 {
		b = append(b, `,"attempts_omitted":`...)
		b = strconv.AppendInt(b, int64(h.AttemptsOmitted), 10)
	}
	return append(b, '}')
}

// appendJSON appends a as json.Marshal encodes it.
func (a *Attempt) appendJSON(b []byte) []byte {
	b = append(b, `{"at":`...)
	b = appendJSONTime(b, a.At)
	b = append(b, `,"outcome":`...)
	b = appendJSONString(b, a.Outcome)
	if a.StatusCode != 0 {
		b = append(b, `,"status_code":`...)
		b = strconv.AppendInt(b, int64(a.StatusCode), 10)
	}
	b = append(b, `,"duration":`...)
	b = appendJSONString(b, a.Duration)
	if a.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, a.Error)
	}
	if a.SkipReason != "" {
		b = append(b, `,"skip_reason":`...)
		b = appendJSONString(b, a.SkipReason)
	}
	return append(b, '}')
}

// appendEnrichedAlert appends a as json.Marshal encodes it: an accepted
// alert is encoded once for all its targets' records, and encoding/json
// took a fifth of the webhook's own CPU for it.
func appendEnrichedAlert(b []byte, a *core.EnrichedAlert) []byte {
	al := &a.Alert
	b = append(b, `{"alert":{"fingerprint":`...)
	b = appendJSONString(b, al.Fingerprint)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(al.Status))
	b = append(b, `,"labels":`...)
	b = appendJSONStringMap(b, al.Labels)
	b = append(b, `,"annotations":`...)
	b = appendJSONStringMap(b, al.Annotations)
	b = append(b, `,"startsAt":`...)
	b = appendJSONTime(b, al.StartsAt)
	b = append(b, `,"endsAt":`...)
	b = appendJSONTime(b, al.EndsAt)
	b = append(b, `,"generatorURL":`...)
	b = appendJSONString(b, al.GeneratorURL)
	g := &a.Group
	b = append(b, `},"group":{"receiver":`...)
	b = appendJSONString(b, g.Receiver)
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(g.Status))
	b = append(b, `,"groupKey":`...)
	b = appendJSONString(b, g.GroupKey)
	b = append(b, `,"groupLabels":`...)
	b = appendJSONStringMap(b, g.GroupLabels)
	b = append(b, `,"commonLabels":`...)
	b = appendJSONStringMap(b, g.CommonLabels)
	b = append(b, `,"commonAnnotations":`...)
	b = appendJSONStringMap(b, g.CommonAnnotations)
	b = append(b, `,"externalURL":`...)
	b = appendJSONString(b, g.ExternalURL)
	b = append(b, `,"truncatedAlerts":`...)
	b = strconv.AppendUint(b, g.TruncatedAlerts, 10)
	c := &a.Classification
	b = append(b, `},"classification":{"severity":`...)
	b = appendJSONString(b, string(c.Severity))
	if c.RawSeverity != "" {
		b = append(b, `,"rawSeverity":`...)
		b = appendJSONString(b, c.RawSeverity)
	}
	if c.Priority != "" {
		b = append(b, `,"priority":`...)
		b = appendJSONString(b, c.Priority)
	}
	if len(c.Rules) > 0 {
		b = append(b, `,"rules":`...)
		b = appendJSONArray(b, c.Rules, func(b []byte, r *string) []byte { return appendJSONString(b, *r) })
	}
	if c.Team != "" {
		b = append(b, `,"team":`...)
		b = appendJSONString(b, c.Team)
	}
	if c.Classifier {
		b = append(b, `,"classifier":true`...)
	}
	b = append(b, '}')
	if len(a.Links) > 0 {
		b = append(b, `,"links":`...)
		b = appendJSONArray(b, a.Links, func(b []byte, l *core.Link) []byte {
			b = append(b, `{"name":`...)
			b = appendJSONString(b, l.Name)
			b = append(b, `,"url":`...)
			b = appendJSONString(b, l.URL)
			return append(b, '}')
		})
	}
	b = append(b, `,"receivedAt":`...)
	b = appendJSONTime(b, a.ReceivedAt)
	return append(b, '}')
}

// appendJSONStringMap appends m as encoding/json does: its keys sorted,
// nil as null.
func appendJSONStringMap(b []byte, m map[string]string) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	var stack [24]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}
