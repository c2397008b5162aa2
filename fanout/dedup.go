package fanout

import (
	"strconv"

	"github.com/am-fanout/am-fanout/core"
)

// Deduplicator remembers which deliveries succeeded, so that a notification
// Alertmanager sends again does not reach a target twice. The outbox's
// store implements it durably.
type Deduplicator interface {
	Delivered(key string) bool
	MarkDelivered(key string)
}

// DeliveryKey identifies one delivery: the target, the alert's fingerprint,
// its status and its start time. A new firing of the same alert has a new
// start time and is delivered again.
func DeliveryKey(target string, a *core.EnrichedAlert) string {
	return target + "\x00" + a.Alert.Fingerprint + "\x00" + string(a.Alert.Status) +
		"\x00" + strconv.FormatInt(a.Alert.StartsAt.UnixNano(), 10)
}
