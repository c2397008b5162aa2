package slack

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// SlackAPIURL is the base URL of Slack's Web API.
const SlackAPIURL = "https://slack.com/api/"

// DefaultSlackThreadTTL is how long a bot-mode target remembers the
// message of a firing alert, to answer its resolution in the thread.
const DefaultSlackThreadTTL = model.Duration(7 * 24 * time.Hour)

// Config is the block of a "slack" target. It posts either through an
// incoming webhook (url or url_file) or, with a bot token (token or
// token_file) and a channel, through the Web API's chat.postMessage, which
// lets resolutions be threaded under the firing message.
type Config struct {
	// URL is an incoming webhook URL; it holds a token, so it is a secret.
	URL     publish.Secret `yaml:"url"`
	URLFile string         `yaml:"url_file"`
	// Token is a bot token (xoxb-…).
	Token     publish.Secret `yaml:"token"`
	TokenFile string         `yaml:"token_file"`
	// Channel is the channel ID or name bot mode posts to, or a template
	// over Alertmanager's template.Data that renders one
	// ("#team-{{ .CommonLabels.team }}").
	Channel string `yaml:"channel"`
	// APIURL is the Web API base URL, Slack's own unless overridden.
	APIURL string `yaml:"api_url"`
	// ThreadTTL bounds how long the firing message of an alert is kept
	// for threading its resolution.
	ThreadTTL model.Duration `yaml:"thread_ttl"`
	// UpdateOriginal also edits the firing message to show it resolved.
	UpdateOriginal bool `yaml:"update_original"`
	// ReplyBroadcast also shows the resolution, posted in the thread of
	// the firing message, in the channel.
	ReplyBroadcast bool                       `yaml:"reply_broadcast"`
	HTTPConfig     commoncfg.HTTPClientConfig `yaml:"http_config"`
	Templates      publish.Templates          `yaml:"templates"`
}

// BotMode reports whether the target posts with a bot token rather than
// through an incoming webhook.
func (s *Config) BotMode() bool { return s.Token != "" }

// Validate implements publish.Config.
func (s *Config) Validate(dir string) error {
	url, err := publish.SecretFrom(s.URL, s.URLFile, dir)
	if err != nil {
		return fmt.Errorf("url, url_file: %w", err)
	}
	token, err := publish.SecretFrom(s.Token, s.TokenFile, dir)
	if err != nil {
		return fmt.Errorf("token, token_file: %w", err)
	}
	s.URL, s.URLFile, s.Token, s.TokenFile = url, "", token, ""
	switch {
	case url == "" && token == "":
		return errors.New("one of url/url_file (incoming webhook) or token/token_file (bot) is required")
	case url != "" && token != "":
		return errors.New("url/url_file (incoming webhook) and token/token_file (bot) are mutually exclusive")
	case url != "":
		if err := s.validateWebhook(); err != nil {
			return err
		}
	default:
		if err := s.validateBot(); err != nil {
			return err
		}
	}
	if s.ThreadTTL < 0 {
		return errors.New("thread_ttl must not be negative")
	}
	if s.ThreadTTL == 0 {
		s.ThreadTTL = DefaultSlackThreadTTL
	}
	if err := s.Templates.Validate("title", "text"); err != nil {
		return err
	}
	return publish.ValidateHTTPConfig(&s.HTTPConfig, dir)
}

func (s *Config) validateWebhook() error {
	if err := publish.CheckURL(string(s.URL)); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	// An incoming webhook posts to the channel it was created for, and
	// cannot edit or thread messages: refuse settings it would ignore.
	switch {
	case s.Channel != "":
		return errors.New("channel needs a bot token: an incoming webhook posts to the channel it was created for")
	case s.UpdateOriginal:
		return errors.New("update_original needs a bot token: an incoming webhook cannot edit messages")
	case s.ReplyBroadcast:
		return errors.New("reply_broadcast needs a bot token: an incoming webhook cannot reply in threads")
	case s.APIURL != "":
		return errors.New("api_url needs a bot token: an incoming webhook posts to its own url")
	}
	return nil
}

func (s *Config) validateBot() error {
	// Never quote the token: only its kind is reported.
	if !strings.HasPrefix(string(s.Token), "xoxb-") {
		return errors.New("token must be a bot token (xoxb-…)")
	}
	if s.Channel == "" {
		return errors.New("channel is required with a bot token")
	}
	if _, err := newSlackChannel(s.Channel); err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	if s.APIURL == "" {
		s.APIURL = SlackAPIURL
	}
	if err := publish.CheckURL(s.APIURL); err != nil {
		return fmt.Errorf("api_url: %w", err)
	}
	if !strings.HasSuffix(s.APIURL, "/") {
		s.APIURL += "/"
	}
	return nil
}

// UnmarshalYAML applies the defaults, then the block.
func (s *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	*s = Config{HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	return n.Decode((*plain)(s))
}

// NewPublisher implements publish.Config.
func (s *Config) NewPublisher(name string, o publish.Options) (core.Publisher, error) {
	return publish.Built(newSlack(name, s, o))
}

// Slack's pace for posting messages: "1 per second" per channel, "short
// bursts >1 allowed" (https://api.slack.com/docs/rate-limits), for
// incoming webhooks and chat.postMessage alike
// (https://docs.slack.dev/apis/web-api/rate-limits). Slack does not say
// how large a burst; 3 is a small one.
const (
	slackPerSecond = 1
	slackBurst     = 3
)

// DefaultGroupBy implements publish.Grouped: a chat reads one message per
// notification best.
func (s *Config) DefaultGroupBy() core.GroupBy { return core.GroupByNotification }

// DefaultRateLimit implements publish.RateLimited. Slack limits a
// channel: an incoming webhook posts to one, named by its URL; a bot
// posts to the channel it is given, in its token's workspace.
func (s *Config) DefaultRateLimit() core.RateLimit {
	scope := publish.Scope("slack", string(s.URL))
	if s.BotMode() {
		scope = publish.Scope("slack", string(s.Token), s.Channel)
	}
	return core.RateLimit{PerSecond: slackPerSecond, Burst: slackBurst, Scope: scope}
}
