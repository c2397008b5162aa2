package msteams

import (
	"fmt"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// Config is the block of a "msteams" target: a Microsoft Teams channel
// reached through a Workflows (Power Automate) webhook, created from the
// template "Post to a channel when a webhook request is received".
type Config struct {
	// URL is the workflow's HTTP trigger URL; its sig parameter is a
	// credential, so the URL is a secret.
	URL        publish.Secret             `yaml:"url"`
	URLFile    string                     `yaml:"url_file"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
	// publish.Templates override the card's "title" and "text".
	Templates publish.Templates `yaml:"templates"`
}

// Validate implements publish.Config.
func (m *Config) Validate(dir string) error {
	if err := publish.RequiredSecret(&m.URL, &m.URLFile, "url", dir); err != nil {
		return err
	}
	m.URLFile = ""
	if err := publish.CheckURL(string(m.URL)); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if err := m.Templates.Validate("title", "text"); err != nil {
		return err
	}
	return publish.ValidateHTTPConfig(&m.HTTPConfig, dir)
}

// UnmarshalYAML applies the defaults, then the block.
func (m *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	*m = Config{HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	return n.Decode((*plain)(m))
}

// NewPublisher implements publish.Config.
func (m *Config) NewPublisher(name string, o publish.Options) (core.Publisher, error) {
	return publish.Built(newMSTeams(name, m, o))
}

// Teams throttles a webhook that is sent "more than four requests" in a
// second
// (https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#rate-limiting-for-connectors,
// restated for Workflows URLs in https://github.com/MicrosoftDocs/msteams-docs/issues/7425).
const (
	teamsPerSecond = 4
	teamsBurst     = 4
)

// DefaultGroupBy implements publish.Grouped: a chat reads one message per
// notification best.
func (m *Config) DefaultGroupBy() core.GroupBy { return core.GroupByNotification }

// DefaultRateLimit implements publish.RateLimited: Teams limits the
// workflow, named by its URL.
func (m *Config) DefaultRateLimit() core.RateLimit {
	return core.RateLimit{PerSecond: teamsPerSecond, Burst: teamsBurst, Scope: publish.Scope("msteams", string(m.URL))}
}
