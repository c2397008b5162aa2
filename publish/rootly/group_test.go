package rootly

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
	"github.com/am-fanout/am-fanout/publish/rootly/rootlytest"
)

var (
	_ core.GroupPublisher   = (*rootly)(nil)
	_ publish.GroupRenderer = (*rootly)(nil)
)

// incidentGroupIDKey is where the id of IncidentNotification's Rootly
// alert is kept.
var incidentGroupIDKey = "group:" + publish.GroupKeyHash(publishtest.IncidentNotification().Group.GroupKey)

func TestRootlyAlertmanagerModePostsTheNotification(t *testing.T) {
	for name, n := range map[string]*core.Notification{"firing": publishtest.IncidentNotification(), "resolved": publishtest.ResolvedIncidentNotification()} {
		t.Run(name, func(t *testing.T) {
			f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
			r := newTestRootly(t, f, RootlyModeAlertmanager, publish.Options{})
			if err := r.PublishGroup(context.Background(), n); err != nil {
				t.Fatalf("PublishGroup: %v", err)
			}
			bodies := f.Bodies(rootlytest.RootlySourcePath)
			if len(bodies) != 1 {
				t.Fatalf("alert source got %d payloads, want 1", len(bodies))
			}
			var msg struct {
				Status, GroupKey string
				Alerts           []any
			}
			if err := json.Unmarshal(bodies[0], &msg); err != nil || msg.Status != name || msg.GroupKey != n.Group.GroupKey || len(msg.Alerts) != 3 {
				t.Errorf("payload: %v, status %q, groupKey %q, %d alerts; want %s, the group's key and its 3 alerts", err, msg.Status, msg.GroupKey, len(msg.Alerts), name)
			}
		})
	}
}

func TestRootlyAlertsAPIGroupCreatesOnceThenResolvesByID(t *testing.T) {
	f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	st := publishtest.NewState()
	r := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{State: stateOf(st)})
	ctx := context.Background()
	if err := r.PublishGroup(ctx, publishtest.IncidentNotification()); err != nil {
		t.Fatalf("PublishGroup firing: %v", err)
	}
	created := f.Bodies(rootlytest.RootlyAlertsPath)
	if len(created) != 1 {
		t.Fatalf("Rootly created %d alerts, want 1", len(created))
	}
	publishtest.AssertGolden(t, "group_api_firing.json", created[0])
	if got := st.TTLOf(incidentGroupIDKey); got != rootlyIDRetention {
		t.Errorf("the group's alert id kept for %v, want %v", got, rootlyIDRetention)
	}

	// The group's next notification, an alert more, while its alert is open.
	grown := publishtest.IncidentNotification()
	grown.Alerts = append(grown.Alerts, grown.Alerts[0])
	grown.Alerts[3].Alert.Fingerprint = "d4e5f60718293a4b"
	if reqs, err := r.RenderGroup(ctx, grown); err != nil || len(reqs) != 0 {
		t.Errorf("RenderGroup of an open group: %d requests, %v; want none", len(reqs), err)
	}
	if err := r.PublishGroup(ctx, grown); err != nil {
		t.Fatalf("PublishGroup of an open group: %v", err)
	}
	if n := len(f.Bodies(rootlytest.RootlyAlertsPath)); n != 1 {
		t.Errorf("Rootly created %d alerts, want the group's one only", n)
	}

	restarted := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{State: stateOf(st)})
	if err := restarted.PublishGroup(ctx, publishtest.ResolvedIncidentNotification()); err != nil {
		t.Fatalf("PublishGroup resolved after a restart: %v", err)
	}
	resolved := f.Bodies(rootlytest.RootlyResolved)
	if len(resolved) != 1 {
		t.Fatalf("Rootly resolved %d alerts, want 1", len(resolved))
	}
	publishtest.AssertGolden(t, "group_api_resolve.json", resolved[0])
	if _, ok, _ := st.Get(ctx, incidentGroupIDKey); ok {
		t.Error("the group's id is still stored after its resolve succeeded")
	}
	if err := restarted.PublishGroup(ctx, publishtest.IncidentNotification()); err != nil {
		t.Fatalf("PublishGroup firing again: %v", err)
	}
	if n := len(f.Bodies(rootlytest.RootlyAlertsPath)); n != 2 {
		t.Errorf("the group firing again after its resolve created %d alerts in all, want 2", n)
	}
}

func TestRootlyAlertsAPIGroupResolveWithoutIDShowsTheRequestToBe(t *testing.T) {
	f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
	r := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{})
	err := r.PublishGroup(context.Background(), publishtest.ResolvedIncidentNotification())
	later, ok := errors.AsType[*publish.NeedsEarlierAnswer](err)
	if !ok || core.IsRetryable(err) {
		t.Fatalf("PublishGroup of a resolve with no known id: want a permanent NeedsEarlierAnswer, got %v", err)
	}
	req := later.Requests[0]
	if want := "/v1/alerts/" + later.Placeholder + "/resolve"; req.Method != http.MethodPost || req.URL.Path != want || req.Header.Get("Authorization") != "Bearer "+rootlyTestToken {
		t.Errorf("request = %s %s, want POST %s with the token", req.Method, req.URL.Path, want)
	}
	if f.Requests() != 0 {
		t.Error("a request was sent")
	}
}

func TestRootlyAlertsAPIGroupFailures(t *testing.T) {
	t.Run("no group key fails permanently", func(t *testing.T) {
		f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
		r := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{})
		n := publishtest.IncidentNotification()
		n.Group.GroupKey = ""
		if err := r.PublishGroup(context.Background(), n); !errors.Is(err, publish.ErrNoGroupKey) || core.IsRetryable(err) {
			t.Errorf("PublishGroup: %v, want a permanent ErrNoGroupKey", err)
		}
	})
	t.Run("a failed create keeps no id and hides the token", func(t *testing.T) {
		f := rootlytest.NewRootly(t, rootlyTestToken, rootlyTestSecret)
		f.Script(publishtest.Answer{Status: 503})
		st := publishtest.NewState()
		log, logs := publishtest.DebugLogger()
		r := newTestRootly(t, f, RootlyModeAlertsAPI, publish.Options{State: stateOf(st), Logger: log})
		err := r.PublishGroup(context.Background(), publishtest.IncidentNotification())
		if !core.IsRetryable(err) {
			t.Fatalf("PublishGroup: %v, want a retryable 503", err)
		}
		if _, ok, _ := st.Get(context.Background(), incidentGroupIDKey); ok {
			t.Error("an id is kept for a create that failed")
		}
		publishtest.AssertSecretHidden(t, rootlyTestToken, err, logs)
	})
}
