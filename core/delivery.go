package core

import "strconv"

// DeliveryKey identifies one delivery of an alert: the target, the alert's
// fingerprint, its status and its start time. A new firing of the same
// alert has a new start time and is delivered again. The outbox's dedup
// log and the webhook's message id both read it.
func DeliveryKey(target string, a *EnrichedAlert) string {
	return target + "\x00" + a.Alert.Fingerprint + "\x00" + string(a.Alert.Status) +
		"\x00" + strconv.FormatInt(a.Alert.StartsAt.UnixNano(), 10)
}
