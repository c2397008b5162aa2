package outbox

import (
	"strconv"
	"time"
	"unicode/utf8"
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
