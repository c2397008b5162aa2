package core

import (
	"context"
	"time"
)

// Notification is what a group delivery carries: the alerts of one
// Alertmanager notification that one target selects, with the group's
// context. A target with group_by: notification receives one per
// notification instead of one delivery per alert.
type Notification struct {
	Group Group `json:"group"`
	// Alerts are the group's alerts the target selects, firing first,
	// each with its classification and links.
	Alerts     []EnrichedAlert `json:"alerts"`
	ReceivedAt time.Time       `json:"receivedAt"`
}

// Firing returns the firing alerts of the notification.
func (n *Notification) Firing() []*EnrichedAlert { return n.with(StatusFiring) }

// Resolved returns the resolved alerts of the notification.
func (n *Notification) Resolved() []*EnrichedAlert { return n.with(StatusResolved) }

func (n *Notification) with(s AlertStatus) []*EnrichedAlert {
	var out []*EnrichedAlert
	for i := range n.Alerts {
		if n.Alerts[i].Alert.Status == s {
			out = append(out, &n.Alerts[i])
		}
	}
	return out
}

// Status is resolved when every alert of the notification is resolved,
// firing otherwise, as Alertmanager decides a group's status.
func (n *Notification) Status() AlertStatus {
	for i := range n.Alerts {
		if n.Alerts[i].Alert.Status == StatusFiring {
			return StatusFiring
		}
	}
	return StatusResolved
}

// GroupPublisher delivers a whole notification to one target as one
// message. Every publisher of a type that supports group_by:
// notification implements it besides Publisher.
type GroupPublisher interface {
	PublishGroup(ctx context.Context, n *Notification) error
}

// GroupBy says what one delivery to a target carries: one alert, or one
// Alertmanager notification (its group's alerts).
type GroupBy string

// The values of a target's group_by.
const (
	GroupByAlert        GroupBy = "alert"
	GroupByNotification GroupBy = "notification"
)

// RateLimit paces a target's requests: a token bucket of PerSecond tokens
// a second holding at most Burst. Targets whose Scope is the same share one
// bucket (two targets posting to one Slack channel share its limit). A
// zero PerSecond means unlimited.
type RateLimit struct {
	PerSecond float64
	Burst     int
	// Scope names what the vendor limits, such as the webhook URL or the
	// routing key, as a hash: it never holds a secret. Empty means the
	// target alone.
	Scope string
}

// Unlimited reports whether the rate limit lets every request through.
func (r RateLimit) Unlimited() bool { return r.PerSecond <= 0 }
