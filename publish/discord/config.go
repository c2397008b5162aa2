package discord

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// DefaultDiscordUsername is the name Discord shows as the author of the
// messages a discord target posts.
const DefaultDiscordUsername = "Alertmanager"

// Config is the block of a "discord" target: a channel webhook
// (https://discord.com/api/webhooks/{id}/{token}).
type Config struct {
	// URL holds the webhook's token, so it is a secret.
	URL     publish.Secret `yaml:"url"`
	URLFile string         `yaml:"url_file"`
	// Username overrides the webhook's name on each message.
	Username string `yaml:"username"`
	// AvatarURL overrides the webhook's avatar on each message.
	AvatarURL  string                     `yaml:"avatar_url"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
	Templates  publish.Templates          `yaml:"templates"`
}

// Validate implements publish.Config.
func (d *Config) Validate(dir string) error {
	if err := publish.RequiredSecret(&d.URL, &d.URLFile, "url", dir); err != nil {
		return err
	}
	d.URLFile = ""
	if err := publish.CheckURL(string(d.URL)); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if d.Username == "" {
		d.Username = DefaultDiscordUsername
	}
	if err := checkDiscordUsername(d.Username); err != nil {
		return err
	}
	if d.AvatarURL != "" {
		if err := publish.CheckURL(d.AvatarURL); err != nil {
			return fmt.Errorf("avatar_url: %w", err)
		}
	}
	if err := d.Templates.Validate("title", "description", "content"); err != nil {
		return err
	}
	return publish.ValidateHTTPConfig(&d.HTTPConfig, dir)
}

// checkDiscordUsername applies Discord's rules for webhook names, which
// it answers with a 400 on every message otherwise: 1 to 80 characters,
// without "clyde" or "discord".
func checkDiscordUsername(name string) error {
	if n := utf8.RuneCountInString(name); n > 80 {
		return fmt.Errorf("username has %d characters, Discord allows at most 80", n)
	}
	lower := strings.ToLower(name)
	for _, banned := range []string{"clyde", "discord"} {
		if strings.Contains(lower, banned) {
			return errors.New(`username must not contain "clyde" or "discord" (Discord rejects it)`)
		}
	}
	return nil
}

// UnmarshalYAML applies the defaults, then the block.
func (d *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	*d = Config{HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	return n.Decode((*plain)(d))
}

// NewPublisher implements publish.Config.
func (d *Config) NewPublisher(name string, o publish.Options) (core.Publisher, error) {
	p, err := newDiscord(name, d, o)
	if err != nil {
		return nil, err
	}
	return p, nil
}
