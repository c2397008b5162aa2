package pagerduty

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// The Events API v2 endpoints of PagerDuty's service regions
// (https://developer.pagerduty.com/docs/events-api-v2/trigger-events/).
const (
	PagerDutyURL   = "https://events.pagerduty.com/v2/enqueue"
	PagerDutyEUURL = "https://events.eu.pagerduty.com/v2/enqueue"
)

// PagerDutyRoutingKeyLen is the length of an Events API v2 integration key:
// PagerDuty rejects any other length with 400 "invalid event".
const PagerDutyRoutingKeyLen = 32

// Config is the block of a "pagerduty" target: an Events API v2
// integration of a PagerDuty service or ruleset.
type Config struct {
	RoutingKey     publish.Secret `yaml:"routing_key"`
	RoutingKeyFile string         `yaml:"routing_key_file"`
	// URL overrides the endpoint Region selects (proxies, tests).
	URL string `yaml:"url"`
	// Region is "us" (the default) or "eu".
	Region string `yaml:"region"`
	// SeverityMap maps am-fanout severities (critical, warning, info) to
	// PagerDuty severities (critical, error, warning, info); keys it does not
	// name keep the default mapping.
	SeverityMap map[string]string `yaml:"severity_map"`
	// ComponentLabel, GroupLabel and ClassLabel name the alert labels that
	// fill payload.component, payload.group and payload.class; "" leaves the
	// field out.
	ComponentLabel string `yaml:"component_label"`
	GroupLabel     string `yaml:"group_label"`
	ClassLabel     string `yaml:"class_label"`
	// Client names the sender in PagerDuty; ClientURL is its link, by
	// default the Alertmanager the alert came from.
	Client    string           `yaml:"client"`
	ClientURL string           `yaml:"client_url"`
	Images    []PagerDutyImage `yaml:"images"`
	// publish.Templates may override "summary" and "source".
	Templates  publish.Templates          `yaml:"templates"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
}

// PagerDutyImage is an image attached to every triggered incident.
type PagerDutyImage struct {
	// Src must be an https URL: PagerDuty only shows images served over
	// HTTPS.
	Src  string `yaml:"src"`
	Href string `yaml:"href"`
	Alt  string `yaml:"alt"`
}

// pagerDutySeverities are the severities the Events API v2 accepts.
var pagerDutySeverities = []string{"critical", "error", "warning", "info"}

// Validate implements publish.Config.
func (p *Config) Validate(dir string) error {
	if err := publish.RequiredSecret(&p.RoutingKey, &p.RoutingKeyFile, "routing_key", dir); err != nil {
		return err
	}
	p.RoutingKeyFile = ""
	if templated(string(p.RoutingKey)) {
		if _, err := parseRoutingKey(string(p.RoutingKey)); err != nil {
			return err
		}
	} else if n := utf8.RuneCountInString(string(p.RoutingKey)); n != PagerDutyRoutingKeyLen {
		return fmt.Errorf("routing_key must be the %d-character integration key, got %d characters", PagerDutyRoutingKeyLen, n)
	}
	if err := p.validateURL(); err != nil {
		return err
	}
	for from, to := range p.SeverityMap {
		if !publish.ValidSeverity(from) {
			return fmt.Errorf("severity_map: key %q is not one of critical, warning, info", from)
		}
		if !slices.Contains(pagerDutySeverities, to) {
			return fmt.Errorf("severity_map.%s: %q is not one of %s", from, to, strings.Join(pagerDutySeverities, ", "))
		}
	}
	if p.ClientURL != "" {
		if err := publish.CheckURL(p.ClientURL); err != nil {
			return fmt.Errorf("client_url: %w", err)
		}
	}
	for i, img := range p.Images {
		if err := img.validate(); err != nil {
			return fmt.Errorf("images[%d]: %w", i, err)
		}
	}
	if err := p.Templates.Validate("summary", "source"); err != nil {
		return err
	}
	return publish.ValidateHTTPConfig(&p.HTTPConfig, dir)
}

func (p *Config) validateURL() error {
	switch p.Region {
	case "", "us":
		if p.URL == "" {
			p.URL = PagerDutyURL
		}
	case "eu":
		if p.URL == "" {
			p.URL = PagerDutyEUURL
		}
	default:
		return fmt.Errorf("region %q is not one of us, eu", p.Region)
	}
	if err := publish.CheckURL(p.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	return nil
}

func (i *PagerDutyImage) validate() error {
	if i.Src == "" {
		return fmt.Errorf("src is required")
	}
	if u, err := url.Parse(i.Src); err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("src must be an https URL (PagerDuty shows only images served over HTTPS)")
	}
	if i.Href != "" {
		if err := publish.CheckURL(i.Href); err != nil {
			return fmt.Errorf("href: %w", err)
		}
	}
	return nil
}

// UnmarshalYAML applies the defaults, then the block.
func (p *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	*p = Config{Client: "am-fanout", ComponentLabel: "service", GroupLabel: "job", ClassLabel: "alertname", HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	return n.Decode((*plain)(p))
}

// NewPublisher implements publish.Config.
func (p *Config) NewPublisher(name string, o publish.Options) (core.Publisher, error) {
	return publish.Built(newPagerDuty(name, p, o))
}

// PagerDuty's Events API v2 takes "approximately 120 calls/minute per
// integration key", counted over the 60 seconds before each call
// (https://developer.pagerduty.com/docs/events-API-v2/rate-limits/). A
// burst of 20 and 100 a minute after it never exceed 120 in any minute.
const (
	pagerDutyPerSecond = 100.0 / 60
	pagerDutyBurst     = 20
)

// DefaultRateLimit implements publish.RateLimited: PagerDuty limits the
// routing key, whichever region or URL it is sent to.
func (p *Config) DefaultRateLimit() core.RateLimit {
	return core.RateLimit{PerSecond: pagerDutyPerSecond, Burst: pagerDutyBurst, Scope: publish.Scope("pagerduty", string(p.RoutingKey))}
}
