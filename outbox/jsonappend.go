package outbox

import (
	"strconv"

	"github.com/am-fanout/am-fanout/core"
)

// The store's records are appended as encoding/json would encode them
// (core's appenders), without its reflection.

// appendJSON appends h as json.Marshal encodes it.
func (h *History) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, h.ID, 10)
	b = append(b, `,"target":`...)
	b = core.AppendJSONString(b, h.Target)
	b = append(b, `,"fingerprints":`...)
	b = core.AppendJSONArray(b, h.Fingerprints, func(b []byte, fp *string) []byte { return core.AppendJSONString(b, *fp) })
	if h.AlertName != "" {
		b = append(b, `,"alertname":`...)
		b = core.AppendJSONString(b, h.AlertName)
	}
	b = append(b, `,"status":`...)
	b = core.AppendJSONString(b, string(h.Status))
	if h.Group {
		b = append(b, `,"group":true`...)
	}
	b = append(b, `,"accepted_at":`...)
	b = core.AppendJSONTime(b, h.AcceptedAt)
	b = append(b, `,"state":`...)
	b = core.AppendJSONString(b, h.State)
	b = append(b, `,"attempts":`...)
	b = core.AppendJSONArray(b, h.Attempts, func(b []byte, a *Attempt) []byte { return a.appendJSON(b) })
	if h.AttemptsOmitted != 0 {
		b = append(b, `,"attempts_omitted":`...)
		b = strconv.AppendInt(b, int64(h.AttemptsOmitted), 10)
	}
	return append(b, '}')
}

// appendJSON appends a as json.Marshal encodes it.
func (a *Attempt) appendJSON(b []byte) []byte {
	b = append(b, `{"at":`...)
	b = core.AppendJSONTime(b, a.At)
	b = append(b, `,"outcome":`...)
	b = core.AppendJSONString(b, a.Outcome)
	if a.StatusCode != 0 {
		b = append(b, `,"status_code":`...)
		b = strconv.AppendInt(b, int64(a.StatusCode), 10)
	}
	b = append(b, `,"duration":`...)
	b = core.AppendJSONString(b, a.Duration)
	if a.Error != "" {
		b = append(b, `,"error":`...)
		b = core.AppendJSONString(b, a.Error)
	}
	if a.SkipReason != "" {
		b = append(b, `,"skip_reason":`...)
		b = core.AppendJSONString(b, a.SkipReason)
	}
	return append(b, '}')
}
