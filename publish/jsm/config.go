package jsm

import (
	"errors"
	"strings"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/genie"
	"go.yaml.in/yaml/v3"
)

// JSMURL is the base of the integration events API of Jira Service
// Management Operations, one for every site
// (https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v1/api-group-integration-events/).
const JSMURL = "https://api.atlassian.com"

// alertsPath is where that API keeps Opsgenie's Alert API v2.
const alertsPath = "/jsm/ops/integration/v2/alerts"

// Config is the block of a "jsm" target: an API integration of Jira
// Service Management Operations, which takes the alerts Opsgenie's Alert
// API took (package genie holds what it shares with "opsgenie").
type Config struct {
	genie.Fields `yaml:",inline"`
	// UpdateAlerts is read only to refuse it with a reason: see Validate.
	UpdateAlerts bool `yaml:"update_alerts"`
}

// errNoUpdates explains why update_alerts, which Opsgenie targets (and
// Alertmanager's Opsgenie integration) take, is refused here.
var errNoUpdates = errors.New("update_alerts: JSM's integration events API, which an API key reaches, " +
	"documents create, acknowledge, close and notes only; updating message and description " +
	"needs its REST API, by alert id and with a user's API token, which am-fanout does not use (see docs/targets/jsm.md)")

// Validate implements publish.Config.
func (c *Config) Validate(dir string) error {
	if c.URL == "" {
		c.URL = JSMURL
	}
	if c.UpdateAlerts {
		return errNoUpdates
	}
	return c.Fields.Validate(dir)
}

// UnmarshalYAML applies the defaults, then the block.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	*c = Config{Fields: genie.DefaultFields()}
	return n.Decode((*plain)(c))
}

// NewPublisher implements publish.Config.
func (c *Config) NewPublisher(name string, o publish.Options) (core.Publisher, error) {
	return publish.Built(newJSM(name, c, o))
}

func newJSM(name string, c *Config, o publish.Options) (*genie.Publisher, error) {
	return genie.New(name, &c.Fields, genie.API{Vendor: "JSM", AlertsURL: strings.TrimRight(c.URL, "/") + alertsPath}, o)
}
