package enrich

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
)

// SupportedVersion is the only webhook payload version Decode accepts.
const SupportedVersion = "4"

// ErrInvalidPayload is wrapped by every error Decode returns, so that the
// receiver can answer 400 to all of them with errors.Is.
var ErrInvalidPayload = errors.New("invalid Alertmanager payload")

// Message is Alertmanager's webhook payload, version 4, as
// notify/webhook.Message sends it. RouteLabels and NotificationReason come
// from newer Alertmanager releases; they are kept so that nothing a newer
// sender adds is silently lost on the way through.
type Message struct {
	template.Data

	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`

	RouteLabels        map[string]string `json:"routeLabels,omitempty"`
	NotificationReason string            `json:"notification_reason,omitempty"`
}

// Decode reads one webhook payload from r and validates it: the version
// must be SupportedVersion and every
// alert must be firing or resolved and carry at least one label. Unknown
// fields are tolerated, as Alertmanager adds fields over time. Every error
// wraps ErrInvalidPayload.
func Decode(r io.Reader) (*Message, error) {
	dec := json.NewDecoder(r)
	var msg Message
	if err := dec.Decode(&msg); err != nil {
		return nil, fmt.Errorf("%w: malformed JSON: %w", ErrInvalidPayload, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: malformed JSON: data after the payload object", ErrInvalidPayload)
	}
	if err := msg.validate(); err != nil {
		return nil, err
	}
	return &msg, nil
}

func (m *Message) validate() error {
	if m.Version != SupportedVersion {
		if m.Version == "" {
			return fmt.Errorf("%w: version is missing; version %q is supported", ErrInvalidPayload, SupportedVersion)
		}
		return fmt.Errorf("%w: version %q is not supported; version %q is supported", ErrInvalidPayload, m.Version, SupportedVersion)
	}
	for i := range m.Alerts {
		a := &m.Alerts[i]
		switch core.AlertStatus(a.Status) {
		case core.StatusFiring, core.StatusResolved:
		default:
			return fmt.Errorf("%w: alerts[%d]: status %q is neither %q nor %q",
				ErrInvalidPayload, i, a.Status, core.StatusFiring, core.StatusResolved)
		}
		if len(a.Labels) == 0 {
			return fmt.Errorf("%w: alerts[%d]: an alert needs at least one label", ErrInvalidPayload, i)
		}
	}
	return nil
}
