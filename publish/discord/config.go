package discord

import (
	"errors"
	"fmt"
	"net/url"
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
	AvatarURL string `yaml:"avatar_url"`
	// ThreadName, a template over the alert, names the post each message
	// opens in a forum or media channel, which requires it or ThreadID.
	ThreadName string `yaml:"thread_name"`
	// ThreadID is the thread (or forum post) the messages go to.
	ThreadID   string                     `yaml:"thread_id"`
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
	if err := d.checkThread(); err != nil {
		return err
	}
	if err := d.Templates.Validate("title", "description", "content"); err != nil {
		return err
	}
	return publish.ValidateHTTPConfig(&d.HTTPConfig, dir)
}

// checkThread applies Execute Webhook's rules for threads
// (https://discord.com/developers/docs/resources/webhook#execute-webhook):
// thread_id is a thread's snowflake id, thread_name a name for a new forum
// post, and a message takes one of them at most, where the url's own
// ?thread_id= counts as thread_id.
func (d *Config) checkThread() error {
	u, err := url.Parse(string(d.URL))
	if err != nil {
		return errors.New("url: not a valid URL")
	}
	inURL := u.Query().Has("thread_id")
	switch {
	case d.ThreadName != "" && d.ThreadID != "":
		return errors.New("thread_name and thread_id are mutually exclusive (Discord refuses a message with both)")
	case inURL && d.ThreadID != "":
		return errors.New("thread_id: the url already holds a thread_id; set it in one place")
	case inURL && d.ThreadName != "":
		return errors.New("thread_name: the url holds a thread_id, and Discord refuses a message with both")
	case d.ThreadID != "" && !isSnowflake(d.ThreadID):
		return fmt.Errorf("thread_id %q is not a Discord id (a number)", d.ThreadID)
	}
	if _, err := (publish.Templates{"thread_name": d.ThreadName}).Parse(); err != nil {
		return fmt.Errorf("thread_name: %w", errors.Unwrap(err))
	}
	return nil
}

// isSnowflake reports whether s is a Discord id: a decimal number.
func isSnowflake(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
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
	return publish.Built(newDiscord(name, d, o))
}

// Discord's limits of one webhook, for when no X-RateLimit headers have
// been seen yet. Discord asks clients to read its headers rather than hard
// code limits (https://discord.com/developers/docs/topics/rate-limits); its
// webhooks answer with a bucket of 5 requests per 2 seconds
// (https://birdie0.github.io/discord-webhooks-guide/other/rate_limits.html)
// under a limit of 30 messages a minute on the channel, which Discord's
// staff confirmed (https://github.com/discord/discord-api-docs/issues/367).
// The default keeps to both: a burst of 5, then one message every 2s.
const (
	discordPerSecond = 30.0 / 60
	discordBurst     = 5
)

// DefaultGroupBy implements publish.Grouped: a chat reads one message per
// notification best.
func (d *Config) DefaultGroupBy() core.GroupBy { return core.GroupByNotification }

// DefaultRateLimit implements publish.RateLimited. Discord limits the
// webhook, whichever thread a message goes to, so the scope is the URL
// without its query.
func (d *Config) DefaultRateLimit() core.RateLimit {
	hook := string(d.URL)
	if u, err := url.Parse(hook); err == nil {
		u.RawQuery = ""
		hook = u.String()
	}
	return core.RateLimit{PerSecond: discordPerSecond, Burst: discordBurst, Scope: publish.Scope("discord", hook)}
}
