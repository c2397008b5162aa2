package core

import "strconv"

// DeliveryKey identifies one delivery of an alert: the target, the alert's
// fingerprint, its status and its start time. A new firing of the same
// alert has a new start time and is delivered again. The outbox's dedup
// log and the webhook's message id both read it.
func DeliveryKey(target string, a *EnrichedAlert) string {
	var b [160]byte
	return string(AppendDeliveryKey(b[:0], target, a))
}

// AppendDeliveryKey appends DeliveryKey(target, a) to b, for callers that
// hash the key rather than keep it.
func AppendDeliveryKey(b []byte, target string, a *EnrichedAlert) []byte {
	b = append(b, target...)
	b = append(append(b, 0), a.Alert.Fingerprint...)
	b = append(append(b, 0), a.Alert.Status...)
	return strconv.AppendInt(append(b, 0), a.Alert.StartsAt.UnixNano(), 10)
}
