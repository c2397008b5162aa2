package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

var (
	_ core.GroupPublisher   = (*webhook)(nil)
	_ publish.GroupRenderer = (*webhook)(nil)
)

// alertmanagerV4 is Alertmanager's webhook payload, version 4, as its
// webhook_config documents it: every field is required and no other is
// allowed.
type alertmanagerV4 struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   *uint64           `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	} `json:"alerts"`
}

// decodeV4 decodes body as Alertmanager's payload, failing the test on
// any field the payload does not have or misses.
func decodeV4(t *testing.T, body []byte) *alertmanagerV4 {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	var msg alertmanagerV4
	if err := dec.Decode(&msg); err != nil {
		t.Fatalf("body is not Alertmanager's v4 payload: %v", err)
	}
	if msg.Version != "4" || msg.GroupKey == "" || msg.TruncatedAlerts == nil || msg.GroupLabels == nil || msg.CommonLabels == nil || msg.CommonAnnotations == nil {
		t.Errorf("payload misses version 4, groupKey, truncatedAlerts or a label map: %s", body)
	}
	if msg.Status != "firing" && msg.Status != "resolved" || len(msg.Alerts) == 0 {
		t.Errorf("payload status %q with %d alerts, want firing or resolved with alerts", msg.Status, len(msg.Alerts))
	}
	for _, a := range msg.Alerts {
		if a.Fingerprint == "" || a.StartsAt.IsZero() || a.Labels == nil || a.Annotations == nil {
			t.Errorf("alert %+v misses fingerprint, startsAt, labels or annotations", a)
		}
	}
	return &msg
}

func TestWebhookGroupBody(t *testing.T) {
	truncated := func() *core.Notification {
		n := publishtest.IncidentNotification()
		n.Group.TruncatedAlerts = 4
		return n
	}
	tests := []struct {
		name, format, golden string
		notification         func() *core.Notification
	}{
		{name: "alertmanager: the notification as Alertmanager sent it", format: FormatAlertmanager, golden: "group-alertmanager.json", notification: truncated},
		{name: "alertmanager: resolved once every alert is", format: FormatAlertmanager, golden: "group-alertmanager-resolved.json", notification: publishtest.ResolvedIncidentNotification},
		{name: "enriched: the notification JSON", format: FormatEnriched, golden: "group-enriched.json", notification: publishtest.IncidentNotification},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWebhookServer(t, webhookStatus(http.StatusOK))
			p := newTestWebhook(t, srv.url(), tc.format, commoncfg.DefaultHTTPClientConfig).(*webhook)
			n := tc.notification()
			if err := p.PublishGroup(context.Background(), n); err != nil {
				t.Fatalf("PublishGroup: %v", err)
			}
			reqs := srv.received(t)
			if len(reqs) != 1 || reqs[0].method != http.MethodPost || reqs[0].header.Get("Content-Type") != "application/json" {
				t.Fatalf("server got %d requests, want one JSON POST", len(reqs))
			}
			if tc.format == FormatAlertmanager {
				msg := decodeV4(t, reqs[0].body)
				if len(msg.Alerts) != len(n.Alerts) || msg.GroupKey != n.Group.GroupKey || *msg.TruncatedAlerts != n.Group.TruncatedAlerts || msg.Status != string(n.Status()) {
					t.Errorf("payload has %d alerts, key %q, truncated %d, status %s; want the notification's %d, %q, %d, %s",
						len(msg.Alerts), msg.GroupKey, *msg.TruncatedAlerts, msg.Status, len(n.Alerts), n.Group.GroupKey, n.Group.TruncatedAlerts, n.Status())
				}
			} else {
				var got core.Notification
				if err := json.Unmarshal(reqs[0].body, &got); err != nil || len(got.Alerts) != len(n.Alerts) || got.Group.GroupKey != n.Group.GroupKey {
					t.Errorf("enriched body is not the notification (%v): %s", err, reqs[0].body)
				}
			}
			publishtest.AssertGolden(t, tc.golden, reqs[0].body)
		})
	}
}

// TestWebhookGroupIDIsStableAcrossRetries: retries of one notification,
// even after a restart and with its alerts in another order, carry one
// webhook-id, each attempt signed anew; a change of an alert's state, of
// the group or of the target makes another delivery.
func TestWebhookGroupIDIsStableAcrossRetries(t *testing.T) {
	now := time.Unix(1767225600, 0)
	srv := newWebhookServer(t, webhookStatus(http.StatusServiceUnavailable))
	p := newSigningWebhook(t, srv.url(), &now, currentSecret)
	first := publishtest.IncidentNotification()
	_ = p.PublishGroup(context.Background(), first)
	now = now.Add(30 * time.Second)
	restored := publishtest.IncidentNotification()
	slices.Reverse(restored.Alerts)
	for i := range restored.Alerts {
		restored.Alerts[i].Alert.StartsAt = restored.Alerts[i].Alert.StartsAt.In(time.FixedZone("elsewhere", 3600))
	}
	restarted := newSigningWebhook(t, srv.url(), &now, currentSecret)
	_ = restarted.PublishGroup(context.Background(), restored)
	_ = p.PublishGroup(context.Background(), publishtest.ResolvedIncidentNotification())
	otherGroup := publishtest.IncidentNotification()
	otherGroup.Group.GroupKey = `{}:{alertname="Other"}`
	_ = p.PublishGroup(context.Background(), otherGroup)
	elsewhere := newSigningWebhook(t, srv.url(), &now, currentSecret)
	elsewhere.name = "other-target"
	_ = elsewhere.PublishGroup(context.Background(), first)

	reqs := srv.received(t)
	if len(reqs) != 5 {
		t.Fatalf("server got %d requests, want 5", len(reqs))
	}
	id := func(i int) string { return reqs[i].header.Get("webhook-id") }
	if id(0) != id(1) || id(0) == "" {
		t.Errorf("two attempts of one notification have ids %q and %q, want one", id(0), id(1))
	}
	if reqs[0].header.Get("webhook-signature") == reqs[1].header.Get("webhook-signature") {
		t.Error("a retry repeats the first attempt's signature, want the attempt's own")
	}
	for i, what := range map[int]string{2: "the group's resolve", 3: "another group", 4: "another target"} {
		if id(i) == id(0) {
			t.Errorf("%s has the first notification's webhook-id", what)
		}
	}
	for i, r := range reqs {
		if err := verifyStandardWebhook(currentSecret, r.header, r.body, now, 5*time.Minute); err != nil {
			t.Errorf("request %d does not verify: %v", i, err)
		}
	}
}

func TestWebhookRenderGroupIsWhatPublishGroupSends(t *testing.T) {
	now := time.Unix(1767225600, 0)
	srv := newWebhookServer(t, webhookStatus(http.StatusOK))
	p := newSigningWebhook(t, srv.url(), &now, currentSecret)
	reqs, err := p.RenderGroup(context.Background(), publishtest.IncidentNotification())
	if err != nil || len(reqs) != 1 {
		t.Fatalf("RenderGroup: %d requests, %v", len(reqs), err)
	}
	if len(srv.received(t)) != 0 {
		t.Fatal("RenderGroup sent a request")
	}
	if err := p.PublishGroup(context.Background(), publishtest.IncidentNotification()); err != nil {
		t.Fatalf("PublishGroup: %v", err)
	}
	sent := srv.received(t)[0]
	for _, h := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		if reqs[0].Header.Get(h) != sent.header.Get(h) {
			t.Errorf("%s rendered %q, sent %q", h, reqs[0].Header.Get(h), sent.header.Get(h))
		}
	}
}

func TestWebhookGroupFailureHidesTheURL(t *testing.T) {
	srv := newWebhookServer(t, webhookStatus(http.StatusOK))
	url := srv.url()
	srv.Close()
	p := newTestWebhook(t, url, FormatAlertmanager, commoncfg.DefaultHTTPClientConfig).(*webhook)
	err := p.PublishGroup(context.Background(), publishtest.IncidentNotification())
	if !core.IsRetryable(err) {
		t.Fatalf("PublishGroup to a closed server: %v, want a retryable error", err)
	}
	publishtest.AssertSecretHidden(t, webhookSecret, err, &bytes.Buffer{})
}
