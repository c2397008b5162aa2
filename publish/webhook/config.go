package webhook

import (
	"fmt"

	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// The body formats of a webhook target.
const (
	// FormatAlertmanager sends Alertmanager's v4 webhook payload holding
	// this one alert with its group context.
	FormatAlertmanager = "alertmanager"
	// FormatEnriched sends the EnrichedAlert as JSON.
	FormatEnriched = "enriched"
)

// Config is the block of a "webhook" target: a generic HTTP endpoint.
type Config struct {
	// URL may hold a token, so it is a secret.
	URL        publish.Secret             `yaml:"url"`
	URLFile    string                     `yaml:"url_file"`
	Format     string                     `yaml:"format"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
}

// UnmarshalYAML applies the defaults, then the block.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	*c = Config{Format: FormatAlertmanager, HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	return n.Decode((*plain)(c))
}

// Validate implements publish.Config.
func (c *Config) Validate(dir string) error {
	if err := publish.RequiredSecret(&c.URL, &c.URLFile, "url", dir); err != nil {
		return err
	}
	c.URLFile = ""
	if err := publish.CheckURL(string(c.URL)); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if c.Format != FormatAlertmanager && c.Format != FormatEnriched {
		return fmt.Errorf("format %q is not one of %s, %s", c.Format, FormatAlertmanager, FormatEnriched)
	}
	return publish.ValidateHTTPConfig(&c.HTTPConfig, dir)
}

// NewPublisher implements publish.Config.
func (c *Config) NewPublisher(name string, o publish.Options) (core.Publisher, error) {
	p, err := newWebhook(name, c, o)
	if err != nil {
		return nil, err
	}
	return p, nil
}
