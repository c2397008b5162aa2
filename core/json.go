package core

import (
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// The records written for every delivery (the outbox's) and the bodies
// sent for every attempt (the webhook's) are encoded by appending, as
// encoding/json would encode them, without its reflection, which was
// among the largest costs per delivery. Reading them back is
// encoding/json's.

// AppendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 as U+FFFD, as encoding/json
// writes it (which also escapes <, > and &; JSON does not need it).
func AppendJSONString(b []byte, s string) []byte {
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

// AppendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339
// with nanoseconds, quoted).
func AppendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// AppendJSONArray appends xs as a JSON array of what add appends for
// each; nil as null, as encoding/json writes a nil slice.
func AppendJSONArray[T any](b []byte, xs []T, add func([]byte, *T) []byte) []byte {
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

// AppendJSONStringMap appends m as encoding/json does: its keys sorted,
// nil as null.
func AppendJSONStringMap(b []byte, m map[string]string) []byte {
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
		b = AppendJSONString(b, k)
		b = append(b, ':')
		b = AppendJSONString(b, m[k])
	}
	return append(b, '}')
}

// AppendJSON appends a as json.Marshal encodes it (but for the <, > and
// & that encoding/json also escapes): the outbox encodes an accepted
// alert once for all its targets' records this way, where encoding/json
// took a fifth of the webhook's own CPU.
func (a *EnrichedAlert) AppendJSON(b []byte) []byte {
	al := &a.Alert
	b = append(b, `{"alert":{"fingerprint":`...)
	b = AppendJSONString(b, al.Fingerprint)
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, string(al.Status))
	b = append(b, `,"labels":`...)
	b = AppendJSONStringMap(b, al.Labels)
	b = append(b, `,"annotations":`...)
	b = AppendJSONStringMap(b, al.Annotations)
	b = append(b, `,"startsAt":`...)
	b = AppendJSONTime(b, al.StartsAt)
	b = append(b, `,"endsAt":`...)
	b = AppendJSONTime(b, al.EndsAt)
	b = append(b, `,"generatorURL":`...)
	b = AppendJSONString(b, al.GeneratorURL)
	g := &a.Group
	b = append(b, `},"group":{"receiver":`...)
	b = AppendJSONString(b, g.Receiver)
	b = append(b, `,"status":`...)
	b = AppendJSONString(b, string(g.Status))
	b = append(b, `,"groupKey":`...)
	b = AppendJSONString(b, g.GroupKey)
	b = append(b, `,"groupLabels":`...)
	b = AppendJSONStringMap(b, g.GroupLabels)
	b = append(b, `,"commonLabels":`...)
	b = AppendJSONStringMap(b, g.CommonLabels)
	b = append(b, `,"commonAnnotations":`...)
	b = AppendJSONStringMap(b, g.CommonAnnotations)
	b = append(b, `,"externalURL":`...)
	b = AppendJSONString(b, g.ExternalURL)
	b = append(b, `,"truncatedAlerts":`...)
	b = strconv.AppendUint(b, g.TruncatedAlerts, 10)
	c := &a.Classification
	b = append(b, `},"classification":{"severity":`...)
	b = AppendJSONString(b, string(c.Severity))
	if c.RawSeverity != "" {
		b = append(b, `,"rawSeverity":`...)
		b = AppendJSONString(b, c.RawSeverity)
	}
	if c.Priority != "" {
		b = append(b, `,"priority":`...)
		b = AppendJSONString(b, c.Priority)
	}
	if len(c.Rules) > 0 {
		b = append(b, `,"rules":`...)
		b = AppendJSONArray(b, c.Rules, func(b []byte, r *string) []byte { return AppendJSONString(b, *r) })
	}
	if c.Team != "" {
		b = append(b, `,"team":`...)
		b = AppendJSONString(b, c.Team)
	}
	if c.Classifier {
		b = append(b, `,"classifier":true`...)
	}
	b = append(b, '}')
	if len(a.Links) > 0 {
		b = append(b, `,"links":`...)
		b = AppendJSONArray(b, a.Links, func(b []byte, l *Link) []byte {
			b = append(b, `{"name":`...)
			b = AppendJSONString(b, l.Name)
			b = append(b, `,"url":`...)
			b = AppendJSONString(b, l.URL)
			return append(b, '}')
		})
	}
	b = append(b, `,"receivedAt":`...)
	b = AppendJSONTime(b, a.ReceivedAt)
	return append(b, '}')
}
