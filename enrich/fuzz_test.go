package enrich

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// FuzzDecode feeds Decode and Enrich arbitrary bodies: neither may panic,
// a body Decode refuses gives an error that says why, and every alert of
// a body it accepts becomes one enriched alert with a fingerprint.
func FuzzDecode(f *testing.F) {
	if example, err := os.ReadFile("../examples/payload.json"); err == nil {
		f.Add(example)
	}
	f.Add([]byte(`{"version":"4","status":"firing","alerts":[]}`))
	f.Add([]byte(`{"version":"4","status":"resolved","groupKey":"{}:{}","alerts":[{"status":"resolved","labels":{"alertname":"A"},"startsAt":"2026-01-01T00:00:00Z","endsAt":"2026-01-01T00:05:00Z"}]}`))
	f.Add([]byte(`{"version":"3"}`))
	f.Add([]byte(`{"version":"4","alerts":[{"labels":{"":""}}]}`))
	f.Add([]byte(`[]`))
	e := New(nil, func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := Decode(bytes.NewReader(body))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("Decode refused a body with an empty error")
			}
			return
		}
		got := e.Enrich(msg)
		if len(got) != len(msg.Alerts) {
			t.Fatalf("Enrich made %d alerts of %d", len(got), len(msg.Alerts))
		}
		for _, a := range got {
			if a.Alert.Fingerprint == "" {
				t.Fatalf("an enriched alert has no fingerprint: %+v", a.Alert)
			}
		}
	})
}
