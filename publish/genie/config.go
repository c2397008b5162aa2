package genie

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish"
	commoncfg "github.com/prometheus/common/config"
)

// Limits of the Create Alert request that configuration can break
// (https://docs.opsgenie.com/docs/alert-api); JSM Operations keeps the
// request as it was
// (https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v1/api-group-integration-events/).
const (
	MaxTags       = 20
	MaxTagLen     = 50
	MaxEntityLen  = 512
	MaxResponders = 50
)

// Priorities are the priorities the Alert API accepts, most urgent first.
var Priorities = []string{"P1", "P2", "P3", "P4", "P5"}

// Fields are the keys an "opsgenie" and a "jsm" target share: the key of
// an API integration and what every alert they create carries. Each
// type's Config holds them inline and adds its own endpoint keys.
type Fields struct {
	APIKey     publish.Secret `yaml:"api_key"`
	APIKeyFile string         `yaml:"api_key_file"`
	// URL is the API base; it overrides the type's default (proxies,
	// tests).
	URL string `yaml:"url"`
	// Responders are notified of every alert; their fields may be
	// templates over Alertmanager's data (see renderResponders).
	Responders []Responder `yaml:"responders"`
	// VisibleTo are teams and users that see alerts without being notified.
	VisibleTo []Responder `yaml:"visible_to"`
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

// Responder is a team, user, escalation or schedule, named by id, by
// name, or (users only) by username.
type Responder struct {
	Type     string `yaml:"type"`
	ID       string `yaml:"id"`
	Name     string `yaml:"name"`
	Username string `yaml:"username"`
}

// DefaultFields are the defaults UnmarshalYAML starts from.
func DefaultFields() Fields {
	return Fields{HTTPConfig: commoncfg.DefaultHTTPClientConfig}
}

// Validate reads the key and checks every shared key but url, whose
// default the type sets first; dir resolves a relative api_key_file.
func (f *Fields) Validate(dir string) error {
	if err := publish.RequiredSecret(&f.APIKey, &f.APIKeyFile, "api_key", dir); err != nil {
		return err
	}
	f.APIKeyFile = ""
	if err := publish.CheckURL(f.URL); err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if err := validateResponders("responders", f.Responders, responderTypes...); err != nil {
		return err
	}
	if err := validateResponders("visible_to", f.VisibleTo, visibleToTypes...); err != nil {
		return err
	}
	if len(f.Tags) > MaxTags {
		return fmt.Errorf("tags: at most %d, got %d", MaxTags, len(f.Tags))
	}
	for i, t := range f.Tags {
		if t == "" || utf8.RuneCountInString(t) > MaxTagLen {
			return fmt.Errorf("tags[%d]: must be 1 to %d characters", i, MaxTagLen)
		}
	}
	for sev, p := range f.PriorityMap {
		if !publish.ValidSeverity(sev) {
			return fmt.Errorf("priority_map: key %q is not one of critical, warning, info", sev)
		}
		if !slices.Contains(Priorities, p) {
			return fmt.Errorf("priority_map.%s: %q is not one of P1, P2, P3, P4, P5", sev, p)
		}
	}
	if utf8.RuneCountInString(f.Entity) > MaxEntityLen {
		return fmt.Errorf("entity: at most %d characters", MaxEntityLen)
	}
	if err := f.Templates.Validate("message", "description"); err != nil {
		return err
	}
	return publish.ValidateHTTPConfig(&f.HTTPConfig, dir)
}

// validateResponders checks the documented shapes: a type, and an id or a
// name (a username for users), never both. Templated fields must parse;
// what they render is checked when they are (see renderResponders).
func validateResponders(field string, rs []Responder, types ...string) error {
	if len(rs) > MaxResponders {
		return fmt.Errorf("%s: at most %d, got %d", field, MaxResponders, len(rs))
	}
	if _, err := parseResponders(field, rs); err != nil {
		return err
	}
	for i, r := range rs {
		if templated(r.Type) {
			continue
		}
		if !slices.Contains(types, r.Type) {
			return fmt.Errorf("%s[%d]: type %q is not one of %v", field, i, r.Type, types)
		}
		if templated(r.ID) || templated(r.Name) || templated(r.Username) {
			continue
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
