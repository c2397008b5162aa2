package publish

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"

	amtemplate "github.com/prometheus/alertmanager/template"
)

// Templates maps the name of a rendered field (such as "title" or "text")
// to a Go text/template that replaces the target type's default rendering.
// Templates run over the core.EnrichedAlert with Alertmanager's template
// functions, so `{{ .Alert.Labels.alertname | toUpper }}` works as in
// Alertmanager.
type Templates map[string]string

// Parse parses every template, each named by its field, with Alertmanager's
// template functions. A missing map key renders as "" rather than
// "<no value>", so an absent label leaves a blank, not noise.
func (t Templates) Parse() (map[string]*template.Template, error) {
	out := make(map[string]*template.Template, len(t))
	for _, field := range t.fields() {
		tmpl, err := template.New(field).
			Funcs(template.FuncMap(amtemplate.DefaultFuncs)).
			Option("missingkey=zero").
			Parse(t[field])
		if err != nil {
			return nil, fmt.Errorf("templates.%s: %w", field, err)
		}
		out[field] = tmpl
	}
	return out, nil
}

// Alertmanager loads its default templates ("slack.default.title",
// ...) for group messages; RenderGroup executes the user's templates
// after them, so they can be called by name as in Alertmanager's config.
func alertmanagerDefaults() (*amtemplate.Template, error) {
	t, err := amtemplate.FromGlobs(nil)
	if err != nil {
		return nil, fmt.Errorf("alertmanager's default templates: %w", err)
	}
	return t, nil
}

// validate rejects fields the target type does not render and templates
// that do not parse.
func (t Templates) Validate(allowed ...string) error {
	for _, field := range t.fields() {
		if !slices.Contains(allowed, field) {
			if len(allowed) == 0 {
				return fmt.Errorf("templates: unknown field %q (this target type has no templates)", field)
			}
			sorted := slices.Sorted(slices.Values(allowed))
			return fmt.Errorf("templates: unknown field %q (allowed: %s)", field, strings.Join(sorted, ", "))
		}
	}
	_, err := t.Parse()
	return err
}

// fields returns the field names in order, so errors are deterministic.
func (t Templates) fields() []string {
	return slices.Sorted(maps.Keys(t))
}
