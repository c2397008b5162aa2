package opsgenie

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	commoncfg "github.com/prometheus/common/config"
	"go.yaml.in/yaml/v3"
)

// The Alert API base URLs of Opsgenie's instances
// (https://docs.opsgenie.com/docs/alert-api).
const (
	OpsgenieURL   = "https://api.opsgenie.com"
	OpsgenieEUURL = "https://api.eu.opsgenie.com"
)

// Limits of Opsgenie's Create Alert request that configuration can break.
const (
	OpsgenieMaxTags       = 20
	OpsgenieMaxTagLen     = 50
	OpsgenieMaxEntityLen  = 512
	OpsgenieMaxResponders = 50
)

// Config is the block of an "opsgenie" target: an API integration of
// Opsgenie's Alert API v2.
type Config struct {
	APIKey     publish.Secret `yaml:"api_key"`
	APIKeyFile string         `yaml:"api_key_file"`
	// URL is the API base, such as https://api.opsgenie.com; it overrides
	// the one Region selects (proxies, tests).
	URL string `yaml:"url"`
	// Region is "us" (the default) or "eu".
	Region string `yaml:"region"`
	// Responders are notified of every alert.
	Responders []OpsgenieResponder `yaml:"responders"`
	// VisibleTo are teams and users that see alerts without being notified.
	VisibleTo []OpsgenieResponder `yaml:"visible_to"`
	// Tags are added before the tags made of the alert's labels.
	Tags []string `yaml:"tags"`
	// PriorityMap maps am-fanout severities (critical, warning, info) to
	// priorities P1..P5; keys it does not name keep the default mapping.
	PriorityMap map[string]string `yaml:"priority_map"`
	// Entity is the domain of the alert, such as an application name.
	Entity string `yaml:"entity"`
	// publish.Templates may override "message" and "description".
	Templates  publish.Templates          `yaml:"templates"`
	HTTPConfig commoncfg.HTTPClientConfig `yaml:"http_config"`
}

// OpsgenieResponder is a team, user, escalation or schedule, named by id,
// by name, or (users only) by username.
type OpsgenieResponder struct {
	Type     string `yaml:"type"`
	ID       string `yaml:"id"`
	Name     string `yaml:"name"`
	Username string `yaml:"username"`
}

// OpsgeniePriorities are the priorities Opsgenie accepts, most urgent first.
var OpsgeniePriorities = []string{"P1", "P2", "P3", "P4", "P5"}

// Validate implements publish.Config.
func (o *Config) Validate(dir string) error {
	if err := publish.RequiredSecret(&o.APIKey, &o.APIKeyFile, "api_key", dir); err != nil {
		return err
	}
	o.APIKeyFile = ""
	if err := o.validateURL(); err != nil {
		return err
	}
	if err := validateResponders("responders", o.Responders, "team", "user", "escalation", "schedule"); err != nil {
		return err
	}
	if err := validateResponders("visible_to", o.VisibleTo, "team", "user"); err != nil {
		return err
	}
	if len(o.Tags) > OpsgenieMaxTags {
		return fmt.Errorf("tags: at most %d, got %d", OpsgenieMaxTags, len(o.Tags))
	}
	for i, t := range o.Tags {
		if t == "" || utf8.RuneCountInString(t) > OpsgenieMaxTagLen {
			return fmt.Errorf("tags[%d]: must be 1 to %d characters", i, OpsgenieMaxTagLen)
		}
	}
	for sev, p := range o.PriorityMap {
		if !publish.ValidSeverity(sev) {
			return fmt.Errorf("priority_map: key %q is not one of critical, warning, info", sev)
		}
		if !slices.Contains(OpsgeniePriorities, p) {
			return fmt.Errorf("priority_map.%s: %q is not one of P1, P2, P3, P4, P5", sev, p)
		}
	}
	if utf8.RuneCountInString(o.Entity) > OpsgenieMaxEntityLen {
		return fmt.Errorf("entity: at most %d characters", OpsgenieMaxEntityLen)
	}
	if err := o.Templates.Validate("message", "description"); err != nil {
		return err
	}
	return publish.ValidateHTTPConfig(&o.HTTPConfig, dir)
}

func (o *Config) validateURL() error {
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
	if err := publish.CheckURL(o.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	return nil
}

// validateResponders checks the shapes Opsgenie documents: a type, and an
// id or a name (a username for users), never both.
func validateResponders(field string, rs []OpsgenieResponder, types ...string) error {
	if len(rs) > OpsgenieMaxResponders {
		return fmt.Errorf("%s: at most %d, got %d", field, OpsgenieMaxResponders, len(rs))
	}
	for i, r := range rs {
		if !slices.Contains(types, r.Type) {
			return fmt.Errorf("%s[%d]: type %q is not one of %v", field, i, r.Type, types)
		}
		named := r.Name
		want := "id or name"
		if r.Type == "user" {
			named, want = r.Username, "id or username"
			if r.Name != "" {
				return fmt.Errorf("%s[%d]: a user is named by id or username, not name", field, i)
			}
		} else if r.Username != "" {
			return fmt.Errorf("%s[%d]: username is only for users", field, i)
		}
		if (r.ID == "") == (named == "") {
			return fmt.Errorf("%s[%d]: a %s needs exactly one of %s", field, i, r.Type, want)
		}
	}
	return nil
}

// UnmarshalYAML applies the defaults, then the block.
func (o *Config) UnmarshalYAML(n *yaml.Node) error {
	type plain Config
	*o = Config{HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	return n.Decode((*plain)(o))
}

// NewPublisher implements publish.Config.
func (o *Config) NewPublisher(name string, opts publish.Options) (core.Publisher, error) {
	p, err := newOpsgenie(name, o, opts)
	if err != nil {
		return nil, err
	}
	return p, nil
}
