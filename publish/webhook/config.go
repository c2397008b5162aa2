package webhook

import (
	"errors"
	"fmt"
	"os"

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
	// SigningSecret, "whsec_" and the base64 of the key, signs every
	// request by the Standard Webhooks scheme (see sign.go).
	SigningSecret publish.Secret `yaml:"signing_secret"`
	// SigningSecretFile holds one or more signing secrets, one a line;
	// every one signs, so a receiver can switch keys without a gap.
	SigningSecretFile string `yaml:"signing_secret_file"`
	// SigningSecrets are the secrets Validate read from signing_secret or
	// signing_secret_file, in their order; empty means unsigned.
	SigningSecrets []publish.Secret `yaml:"-" json:"-"`
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
	if err := c.validateSigning(dir); err != nil {
		return err
	}
	return publish.ValidateHTTPConfig(&c.HTTPConfig, dir)
}

// validateSigning reads and checks the signing secrets into
// SigningSecrets. Its errors start with the key they are about and never
// repeat a secret.
func (c *Config) validateSigning(dir string) error {
	c.SigningSecrets = nil
	switch {
	case c.SigningSecret != "" && c.SigningSecretFile != "":
		return errors.New("signing_secret, signing_secret_file: the value and its _file are mutually exclusive")
	case c.SigningSecret != "":
		if _, err := decodeSecret(string(c.SigningSecret)); err != nil {
			return fmt.Errorf("signing_secret: %w", err)
		}
		c.SigningSecrets = []publish.Secret{c.SigningSecret}
	case c.SigningSecretFile != "":
		data, err := os.ReadFile(publish.ResolvePath(dir, c.SigningSecretFile))
		if err != nil {
			return fmt.Errorf("signing_secret_file: reading secret file: %w", err)
		}
		secrets, err := parseSecretFile(string(data), c.SigningSecretFile)
		if err != nil {
			return fmt.Errorf("signing_secret_file: %w", err)
		}
		c.SigningSecrets = secrets
	}
	return nil
}

// NewPublisher implements publish.Config.
func (c *Config) NewPublisher(name string, o publish.Options) (core.Publisher, error) {
	return publish.Built(newWebhook(name, c, o))
}
