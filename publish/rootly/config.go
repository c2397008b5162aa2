package rootly

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// The delivery modes of a rootly target.
const (
	// RootlyModeAlertmanager posts Alertmanager's v4 webhook payload to
	// Rootly's Prometheus Alertmanager alert source.
	RootlyModeAlertmanager = "alertmanager"
	// RootlyModeAlertsAPI creates and resolves alerts with Rootly's Alerts
	// REST API (JSON:API).
	RootlyModeAlertsAPI = "alerts_api"
)

// The defaults of a rootly target, as Rootly documents them.
const (
	// RootlyDefaultWebhookURL is the endpoint of Rootly's Alertmanager
	// alert source (https://docs.rootly.com/integrations/alertmanager).
	RootlyDefaultWebhookURL = "https://webhooks.rootly.com/webhooks/incoming/alertmanager_webhooks"
	// RootlyDefaultAPIURL is the base of Rootly's REST API.
	RootlyDefaultAPIURL = "https://api.rootly.com"
)

// rootlyTargetTypes are the notification target types the Alerts API
// accepts (Rootly On-Call only).
var rootlyTargetTypes = []string{"EscalationPolicy", "Group", "Service", "User"}

// Config is the block of a "rootly" target.
type Config struct {
	// Mode is RootlyModeAlertmanager (default) or RootlyModeAlertsAPI.
	Mode string `yaml:"mode"`

	// URL is the Alertmanager alert source's webhook URL, with any
	// notification target path Rootly shows; it names paging targets, so it
	// is kept as a secret.
	URL     publish.Secret `yaml:"url"`
	URLFile string         `yaml:"url_file"`
	// publish.Secret is the alert source's bearer token secret, sent as
	// "Authorization: Bearer <secret>".
	Secret     publish.Secret `yaml:"secret"`
	SecretFile string         `yaml:"secret_file"`

	// APIURL is the base URL of the REST API (alerts_api mode).
	APIURL string `yaml:"api_url"`
	// APIToken is a Rootly API key (alerts_api mode).
	APIToken     publish.Secret `yaml:"api_token"`
	APITokenFile string         `yaml:"api_token_file"`
	// NotificationTargetType and NotificationTargetID page a Rootly On-Call
	// target with each created alert (alerts_api mode); both or neither.
	NotificationTargetType string `yaml:"notification_target_type"`
	NotificationTargetID   string `yaml:"notification_target_id"`

	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
	// publish.Templates override "summary" and "description" (alerts_api mode).
	Templates publish.Templates `yaml:"templates"`
}

// Validate implements publish.Config.
func (r *Config) Validate(dir string) error {
	var err error
	switch r.Mode {
	case RootlyModeAlertmanager:
		err = r.validateAlertmanager(dir)
	case RootlyModeAlertsAPI:
		err = r.validateAlertsAPI(dir)
	default:
		err = fmt.Errorf("mode %q is not one of %s, %s", r.Mode, RootlyModeAlertmanager, RootlyModeAlertsAPI)
	}
	if err != nil {
		return err
	}
	return publish.ValidateHTTPConfig(&r.HTTPConfig, dir)
}

func (r *Config) validateAlertmanager(dir string) error {
	if r.APIURL != "" || r.APIToken != "" || r.APITokenFile != "" ||
		r.NotificationTargetType != "" || r.NotificationTargetID != "" {
		return errors.New("api_url, api_token, api_token_file and notification_target_* belong to mode alerts_api")
	}
	if len(r.Templates) > 0 {
		return errors.New("templates apply to mode alerts_api only: mode alertmanager sends Alertmanager's own payload")
	}
	url, err := publish.SecretFrom(r.URL, r.URLFile, dir)
	if err != nil {
		return fmt.Errorf("url, url_file: %w", err)
	}
	if url == "" {
		url = RootlyDefaultWebhookURL
	}
	r.URL, r.URLFile = url, ""
	if err := publish.CheckURL(string(r.URL)); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if err := publish.RequiredSecret(&r.Secret, &r.SecretFile, "secret", dir); err != nil {
		return err
	}
	r.SecretFile = ""
	return nil
}

func (r *Config) validateAlertsAPI(dir string) error {
	if r.URL != "" || r.URLFile != "" || r.Secret != "" || r.SecretFile != "" {
		return errors.New("url, url_file, secret and secret_file belong to mode alertmanager; mode alerts_api uses api_url and api_token")
	}
	if r.APIURL == "" {
		r.APIURL = RootlyDefaultAPIURL
	}
	r.APIURL = strings.TrimRight(r.APIURL, "/")
	if err := publish.CheckURL(r.APIURL); err != nil {
		return fmt.Errorf("api_url: %w", err)
	}
	if err := publish.RequiredSecret(&r.APIToken, &r.APITokenFile, "api_token", dir); err != nil {
		return err
	}
	r.APITokenFile = ""
	if (r.NotificationTargetType == "") != (r.NotificationTargetID == "") {
		return errors.New("notification_target_type and notification_target_id go together")
	}
	if t := r.NotificationTargetType; t != "" && !slices.Contains(rootlyTargetTypes, t) {
		return fmt.Errorf("notification_target_type %q is not one of %s", t, strings.Join(rootlyTargetTypes, ", "))
	}
	return r.Templates.Validate("summary", "description")
}

// UnmarshalYAML applies the defaults, then the block.
func (r *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	*r = Config{Mode: RootlyModeAlertmanager, HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	return n.Decode((*plain)(r))
}

// NewPublisher implements publish.Config.
func (r *Config) NewPublisher(name string, o publish.Options) (core.Publisher, error) {
	return publish.Built(newRootly(name, r, o))
}
