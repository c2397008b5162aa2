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
// (https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v1/api-group-integration-events/),
// and of its REST API
// (https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v2/api-group-alerts/).
const JSMURL = "https://api.atlassian.com"

// alertsPath is where that API keeps Opsgenie's Alert API v2.
const alertsPath = "/jsm/ops/integration/v2/alerts"

// Config is the block of a "jsm" target: an API integration of Jira
// Service Management Operations, which takes the alerts Opsgenie's Alert
// API took (package genie holds what it shares with "opsgenie").
type Config struct {
	genie.Fields `yaml:",inline"`
	// UpdateAlerts also updates the message and description of an open
	// alert whenever it fires again with other texts, as an "opsgenie"
	// target's update_alerts does, through the REST API that RESTAPI
	// reaches; off by default.
	UpdateAlerts bool     `yaml:"update_alerts"`
	RESTAPI      *RESTAPI `yaml:"rest_api"`
}

// errNoRESTAPI explains what update_alerts needs.
var errNoRESTAPI = errors.New("update_alerts: needs a rest_api block (cloud_id, email, api_token or api_token_file): " +
	"JSM's integration events API, which the API key reaches, cannot update an alert; its REST API can, " +
	"by alert id and with an Atlassian account's email and API token (see docs/targets/jsm.md)")

// errUnusedRESTAPI refuses a rest_api block nothing would use.
var errUnusedRESTAPI = errors.New("rest_api: only update_alerts: true uses it; set update_alerts or remove the block")

// Validate implements publish.Config.
func (c *Config) Validate(dir string) error {
	if c.URL == "" {
		c.URL = JSMURL
	}
	switch {
	case c.UpdateAlerts && c.RESTAPI == nil:
		return errNoRESTAPI
	case !c.UpdateAlerts && c.RESTAPI != nil:
		return errUnusedRESTAPI
	case c.RESTAPI != nil:
		if err := c.RESTAPI.Validate(dir); err != nil {
			return err
		}
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
	api := genie.API{Vendor: "JSM", AlertsURL: strings.TrimRight(c.URL, "/") + alertsPath}
	if c.UpdateAlerts && c.RESTAPI != nil {
		api.Updater = newRESTUpdater(c.RESTAPI, o)
	}
	return genie.New(name, &c.Fields, api, o)
}
