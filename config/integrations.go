package config

import (
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/discord"
	"github.com/am-fanout/am-fanout/publish/file"
	"github.com/am-fanout/am-fanout/publish/jsm"
	"github.com/am-fanout/am-fanout/publish/msteams"
	"github.com/am-fanout/am-fanout/publish/opsgenie"
	"github.com/am-fanout/am-fanout/publish/pagerduty"
	"github.com/am-fanout/am-fanout/publish/rootly"
	"github.com/am-fanout/am-fanout/publish/slack"
	"github.com/am-fanout/am-fanout/publish/webhook"
)

// Integrations is the registry of target types, in name order: a type's
// name in the config and the constructor of its configuration block, which
// builds its publisher. Adding a target type is one package under publish/
// and one line here.
func Integrations() []publish.Integration {
	return []publish.Integration{
		{Type: "discord", NewConfig: func() publish.Config { return new(discord.Config) }},
		{Type: "file", NewConfig: func() publish.Config { return new(file.Config) }},
		{Type: "jsm", NewConfig: func() publish.Config { return new(jsm.Config) }},
		{Type: "msteams", NewConfig: func() publish.Config { return new(msteams.Config) }},
		{Type: "opsgenie", NewConfig: func() publish.Config { return new(opsgenie.Config) }},
		{Type: "pagerduty", NewConfig: func() publish.Config { return new(pagerduty.Config) }},
		{Type: "rootly", NewConfig: func() publish.Config { return new(rootly.Config) }},
		{Type: "slack", NewConfig: func() publish.Config { return new(slack.Config) }},
		{Type: "webhook", NewConfig: func() publish.Config { return new(webhook.Config) }},
	}
}
