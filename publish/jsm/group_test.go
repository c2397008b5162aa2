package jsm

import (
	"context"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/jsm/jsmtest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// groupAlias is publish.GroupKeyHash of {}:{alertname="HighLatency"}, the
// alias Alertmanager's Opsgenie integration gives that group.
const groupAlias = "d4061866bc333de2350285b0452a21f78349e3d63b4f06b6c956f64f95d7be36"

func TestJSMGroupRequestsMatchGoldenFiles(t *testing.T) {
	tests := []struct {
		name, golden, wantPath, wantQuery string
		notification                      func() *core.Notification
	}{
		{name: "firing group creates one alert under the integration path", golden: "group-firing.json", notification: publishtest.IncidentNotification, wantPath: "/jsm/ops/integration/v2/alerts"},
		{
			name: "resolved group closes it by the group's alias", golden: "group-resolved.json", notification: publishtest.ResolvedIncidentNotification,
			wantPath: "/jsm/ops/integration/v2/alerts/" + groupAlias + "/close", wantQuery: "identifierType=alias",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := jsmtest.NewJSM(t, testKey)
			p := newTestJSM(t, fake.URL(), testKey, nil, publish.Options{})
			if err := p.PublishGroup(context.Background(), tc.notification()); err != nil {
				t.Fatalf("PublishGroup: %v (fake rejected: %v)", err, fake.Rejects())
			}
			calls := fake.Calls()
			if len(calls) != 1 {
				t.Fatalf("fake accepted %d requests, want 1", len(calls))
			}
			if calls[0].Path != tc.wantPath || calls[0].Query != tc.wantQuery {
				t.Errorf("request to %s?%s, want %s?%s", calls[0].Path, calls[0].Query, tc.wantPath, tc.wantQuery)
			}
			if a := calls[0].Fields["alias"]; a != nil && a != groupAlias {
				t.Errorf("alias = %v, want %s", a, groupAlias)
			}
			publishtest.AssertGolden(t, tc.golden, calls[0].Body)
		})
	}
}
