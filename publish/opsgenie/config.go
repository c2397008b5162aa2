package opsgenie

import (
	"fmt"
	"strings"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/genie"
	"go.yaml.in/yaml/v3"
)

// The Alert API base URLs of Opsgenie's instances
// (https://docs.opsgenie.com/docs/alert-api).
const (
	OpsgenieURL   = "https://api.opsgenie.com"
	OpsgenieEUURL = "https://api.eu.opsgenie.com"
)

// Config is the block of an "opsgenie" target: an API integration of
// Opsgenie's Alert API v2 (package genie holds what it shares with
// "jsm").
type Config struct {
	genie.Fields `yaml:",inline"`
	// Region is "us" (the default) or "eu"; url overrides it.
	Region string `yaml:"region"`
	// UpdateAlerts also updates the message and description of an open
	// alert by alias whenever it fires again, as Alertmanager's
	// update_alerts does; off by default, as there.
	UpdateAlerts bool `yaml:"update_alerts"`
}

// Validate implements publish.Config.
func (o *Config) Validate(dir string) error {
	switch o.Region {
	case "", "us":
		if o.URL == "" {
			o.URL = OpsgenieURL
		}
	case "eu":
		if o.URL == "" {
			o.URL = OpsgenieEUURL
		}
	default:
		return fmt.Errorf("region %q is not one of us, eu", o.Region)
	}
	return o.Fields.Validate(dir)
}

// UnmarshalYAML applies the defaults, then the block.
func (o *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	*o = Config{Fields: genie.DefaultFields()}
	return n.Decode((*plain)(o))
}

// NewPublisher implements publish.Config.
func (o *Config) NewPublisher(name string, opts publish.Options) (core.Publisher, error) {
	return publish.Built(newOpsgenie(name, o, opts))
}

func newOpsgenie(name string, o *Config, opts publish.Options) (*genie.Publisher, error) {
	return genie.New(name, &o.Fields, genie.API{Vendor: "Opsgenie", AlertsURL: strings.TrimRight(o.URL, "/") + "/v2/alerts", UpdateAlerts: o.UpdateAlerts}, opts)
}
