package enrich

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeRealPayload(t *testing.T) {
	f, err := os.Open("testdata/payload.json")
	require.NoError(t, err)
	defer f.Close()

	msg, err := Decode(f)
	require.NoError(t, err, "a payload as Alertmanager v0.31 sends it must decode")

	assert.Equal(t, "4", msg.Version)
	assert.Equal(t, "am-fanout", msg.Receiver)
	assert.Equal(t, "firing", msg.Status)
	assert.Equal(t, `{}/{team="payments"}:{alertname="HighLatency"}`, msg.GroupKey)
	assert.Equal(t, "http://alertmanager.example.com:9093", msg.ExternalURL)
	assert.Equal(t, uint64(0), msg.TruncatedAlerts)
	assert.Equal(t, map[string]string{"alertname": "HighLatency"}, map[string]string(msg.GroupLabels))
	assert.Equal(t, "payments", msg.CommonLabels["team"])
	assert.Equal(t, "API latency is high", msg.CommonAnnotations["summary"])
	require.Len(t, msg.Alerts, 2)
	a := msg.Alerts[1]
	assert.Equal(t, "resolved", a.Status)
	assert.Equal(t, "af86865e46fc90e7", a.Fingerprint)
	assert.Equal(t, "api-2:8080", a.Labels["instance"])
	assert.True(t, a.EndsAt.Equal(time.Date(2026, 1, 15, 10, 3, 5, 123e6, time.UTC)), "endsAt: got %v", a.EndsAt)
}

func TestDecodeAcceptsNoAlerts(t *testing.T) {
	for _, body := range []string{`{"version":"4","alerts":[]}`, `{"version":"4"}`} {
		msg, err := Decode(strings.NewReader(body))
		require.NoError(t, err, "a notification with no alerts is valid: there is nothing to do")
		assert.Empty(t, msg.Alerts)
	}
}

func TestDecodeKeepsNewerFields(t *testing.T) {
	body := `{"version":"4","status":"firing","receiver":"r",
		"routeLabels":{"team":"payments"},"notification_reason":"new_alerts",
		"someFutureField":{"nested":[1,2]},
		"alerts":[{"status":"firing","labels":{"alertname":"A"},"someFutureAlertField":true}]}`

	msg, err := Decode(strings.NewReader(body))
	require.NoError(t, err, "fields added by newer Alertmanager releases must not fail decoding")
	assert.Equal(t, map[string]string{"team": "payments"}, msg.RouteLabels)
	assert.Equal(t, "new_alerts", msg.NotificationReason)
}

func TestDecodeRejectsBadPayloads(t *testing.T) {
	const alert = `{"status":"firing","labels":{"alertname":"A"}}`
	tests := []struct {
		name string
		body string
		want []string // substrings the error must hold
	}{
		{"malformed JSON", `{"version":"4","alerts":[`, []string{"malformed JSON"}},
		{"not an object", `[]`, []string{"malformed JSON"}},
		{"empty body", ``, []string{"malformed JSON"}},
		{"data after the object", `{"version":"4","alerts":[` + alert + `]} {}`, []string{"data after the payload"}},
		{"wrong field type", `{"version":4,"alerts":[` + alert + `]}`, []string{"malformed JSON"}},
		{"older version", `{"version":"3","alerts":[` + alert + `]}`, []string{`version "3" is not supported`, `version "4" is supported`}},
		{"missing version", `{"alerts":[` + alert + `]}`, []string{"version is missing", `version "4" is supported`}},
		{"bad alert status", `{"version":"4","alerts":[` + alert + `,{"status":"pending","labels":{"a":"b"}}]}`,
			[]string{"alerts[1]", `status "pending"`, `"firing"`, `"resolved"`}},
		{"missing alert status", `{"version":"4","alerts":[{"labels":{"a":"b"}}]}`, []string{"alerts[0]", `status ""`}},
		{"empty labels", `{"version":"4","alerts":[` + alert + `,` + alert + `,{"status":"resolved","labels":{}}]}`,
			[]string{"alerts[2]", "at least one label"}},
		{"labels absent", `{"version":"4","alerts":[{"status":"firing"}]}`, []string{"alerts[0]", "at least one label"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Decode(strings.NewReader(tt.body))
			require.Error(t, err, "the payload must be rejected")
			assert.Nil(t, msg, "no message may come with an error")
			assert.True(t, errors.Is(err, ErrInvalidPayload), "error %q must wrap ErrInvalidPayload", err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// BenchmarkDecode decodes a notification of one alert shaped as
// BenchmarkEndToEnd's, from a reader as the webhook's handler does.
//
//	go test -run '^$' -bench BenchmarkDecode ./enrich/
func BenchmarkDecode(b *testing.B) {
	group := template.KV{"alertname": "LoadTest"}
	msg := Message{Version: SupportedVersion, GroupKey: `{}:{alertname="LoadTest"}`, Data: template.Data{
		Receiver: "am-fanout", Status: "firing", GroupLabels: group, CommonLabels: group,
		CommonAnnotations: template.KV{}, ExternalURL: "http://127.0.0.1:9093",
		Alerts: template.Alerts{{
			Status:      "firing",
			Labels:      template.KV{"alertname": "LoadTest", "severity": "warning", "seq": "1"},
			Annotations: template.KV{"summary": "load test alert 1"},
			StartsAt:    time.Now().Add(-time.Minute).UTC(),
			Fingerprint: "0000000000000001",
		}},
	}}
	body, err := json.Marshal(msg)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, err := Decode(bytes.NewReader(body)); err != nil || len(got.Alerts) != 1 {
			b.Fatalf("Decode = %v, %v", got, err)
		}
	}
}
