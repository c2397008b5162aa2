package slack

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	amtemplate "github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// slackChannelName and slackChannelID are what chat.postMessage takes as
// a channel: a name, "lowercase letters, numbers, hyphens, and
// underscores, and must be 80 characters or less"
// (https://slack.com/help/articles/201402297), with or without "#", or
// the ID of a channel, group, DM or user.
var (
	slackChannelName = regexp.MustCompile(`^#?[a-z0-9_-]{1,80}$`)
	slackChannelID   = regexp.MustCompile(`^[CGDUW][A-Z0-9]+$`)
)

// checkChannel refuses what Slack would answer channel_not_found to
// on every message.
func checkChannel(c string) error {
	if slackChannelName.MatchString(c) || slackChannelID.MatchString(c) {
		return nil
	}
	return fmt.Errorf("%q is neither a channel ID (C0123456789) nor a channel name (#alerts: at most 80 lowercase letters, digits, - and _)", c)
}

// slackChannel is the channel bot mode posts new messages to: fixed, or
// a template, as Alertmanager's slack_configs channel is, over
// Alertmanager's template.Data. A group message renders it over its
// notification (.CommonLabels are the group's common labels), a message
// of one alert over the group of that alert alone (.CommonLabels are its
// labels), so `#team-{{ .CommonLabels.team }}` works in both.
type slackChannel struct {
	fixed string
	text  string
	tmpl  *amtemplate.Template
}

// newSlackChannel parses the channel; a template is tried on an alert
// without labels, so a field template.Data does not have is refused at
// load time, not at 3 a.m.
func newSlackChannel(c string) (*slackChannel, error) {
	if !strings.Contains(c, "{{") {
		if err := checkChannel(c); err != nil {
			return nil, err
		}
		return &slackChannel{fixed: c}, nil
	}
	tmpl, err := amtemplate.FromGlobs(nil)
	if err != nil {
		return nil, fmt.Errorf("alertmanager's default templates: %w", err)
	}
	ch := &slackChannel{text: c, tmpl: tmpl}
	if _, err := ch.render(publish.AlertmanagerMessage(&core.EnrichedAlert{}).Data); err != nil && !errors.Is(err, errBlankChannel) {
		return nil, err
	}
	return ch, nil
}

var errBlankChannel = errors.New("rendered blank")

func (c *slackChannel) render(d *amtemplate.Data) (string, error) {
	if c.tmpl == nil {
		return c.fixed, nil
	}
	out, err := c.tmpl.ExecuteTextString(c.text, d)
	if err != nil {
		return "", err
	}
	out = strings.TrimSpace(out)
	if out == "" || out == "#" {
		return "", errBlankChannel
	}
	return out, checkChannel(out)
}

// forAlert is the channel of a new message for the alert.
func (c *slackChannel) forAlert(a *core.EnrichedAlert) (string, error) {
	return c.permanent(c.render(publish.AlertmanagerMessage(a).Data))
}

// forGroup is the channel of a new group message.
func (c *slackChannel) forGroup(n *core.Notification) (string, error) {
	return c.permanent(c.render(publish.AlertmanagerNotification(n).Data))
}

// permanent fails a delivery whose channel cannot be rendered: a retry
// renders the same, so it waits, as a dead letter, for the template or
// the alert's labels to be fixed.
func (c *slackChannel) permanent(ch string, err error) (string, error) {
	if err != nil {
		return "", core.Permanent(0, fmt.Errorf("channel template: %w", err))
	}
	return ch, nil
}
