package slack

import (
	"context"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish/publishtest"
	"github.com/am-fanout/am-fanout/publish/slack/slacktest"
)

// withTeam gives the alerts of n the team labels in turn; the team is a
// common label only when there is one.
func withTeam(n *core.Notification, teams ...string) *core.Notification {
	for i := range n.Alerts {
		n.Alerts[i].Alert.Labels["team"] = teams[i%len(teams)]
	}
	n.Group.CommonLabels["team"] = teams[0]
	if len(teams) > 1 {
		delete(n.Group.CommonLabels, "team")
	}
	return n
}

func TestSlackBotTemplatedChannel(t *testing.T) {
	alert := func(team string) *core.EnrichedAlert {
		a := publishtest.ChatAlert(false)
		if team != "" {
			a.Alert.Labels["team"] = team
		}
		return a
	}
	tests := []struct {
		name    string
		publish func(p *slack) error
		want    string // the channel posted to; "" for a refused delivery
		status  int    // of a refused delivery: 0 when refused before sending
		says    string
	}{
		{name: "an alert, from its labels", publish: func(p *slack) error { return p.Publish(context.Background(), alert("a")) }, want: "#team-a"},
		{name: "a group, from its common labels", publish: func(p *slack) error {
			return p.PublishGroup(context.Background(), withTeam(publishtest.ChatNotification(2, 0, 0), "b"))
		}, want: "#team-b"},
		// "#team-" is a name Slack could have; this workspace does not.
		{name: "a group without a common team reaches no channel", publish: func(p *slack) error {
			return p.PublishGroup(context.Background(), withTeam(publishtest.ChatNotification(2, 0, 0), "a", "b"))
		}, status: 200, says: "channel_not_found"},
		{name: "an alert without the label reaches no channel", publish: func(p *slack) error { return p.Publish(context.Background(), alert("")) }, status: 200, says: "channel_not_found"},
		{name: "an alert whose label makes no channel name is refused before sending", publish: func(p *slack) error { return p.Publish(context.Background(), alert("A B")) }, says: "channel template"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := slacktest.NewSlack(t, slackTestToken)
			f.Channels("#team-a", "#team-b")
			p := newSlackBotTestWith(t, f, publishtest.NewState(), nil, func(c *Config) { c.Channel = "#team-{{ .CommonLabels.team }}" })
			err := tc.publish(p)
			if tc.want == "" {
				publishtest.AssertDeliveryError(t, err, tc.status, false, 0, tc.says)
				if n := f.Requests(); tc.status == 0 && n != 0 {
					t.Errorf("Slack got %d requests for a delivery without a channel", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("publish: %v (the fake knows #team-a and #team-b only)", err)
			}
			if got := f.Calls()[0].Msg["channel"]; got != tc.want {
				t.Errorf("posted to %v, want %s", got, tc.want)
			}
		})
	}
}

func TestSlackFakeRefusesAChannelThatDoesNotExist(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	f.Channels("#alerts")
	p := newSlackBotTestWith(t, f, publishtest.NewState(), nil, func(c *Config) { c.Channel = "#other" })
	err := p.PublishGroup(context.Background(), publishtest.ChatNotification(1, 0, 0))
	publishtest.AssertDeliveryError(t, err, 200, false, 0, "channel_not_found")
}
