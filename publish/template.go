package publish

import (
	"bytes"
	"strings"
	"text/template"

	amtemplate "github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/core"
)

// TextTemplates are a target's user templates, parsed once when the
// publisher is built. A nil *TextTemplates renders every fallback, so a
// target without templates needs no special case.
type TextTemplates struct {
	target string
	byName map[string]*template.Template
	// sources are the templates as written, executed by RenderGroup
	// after Alertmanager's default templates in defaults.
	sources  Templates
	defaults *amtemplate.Template
	o        Options
}

// NewTextTemplates parses a target's templates; nil templates give a nil
// *TextTemplates. Config validation already parsed them, so an error here
// means the config was not validated.
func NewTextTemplates(target string, t Templates, o Options) (*TextTemplates, error) {
	if len(t) == 0 {
		return nil, nil
	}
	byName, err := t.Parse()
	if err != nil {
		return nil, err
	}
	defaults, err := alertmanagerDefaults()
	if err != nil {
		return nil, err
	}
	return &TextTemplates{target: target, byName: byName, sources: t, defaults: defaults, o: o}, nil
}

// Render executes the field's template over the alert. It returns fallback
// when the field has no template, when execution fails (logged and
// reported through Options.OnTemplateError) or when the output is blank,
// so a broken template degrades a message instead of dropping it.
func (tt *TextTemplates) Render(field string, a *core.EnrichedAlert, fallback string) string {
	if tt == nil {
		return fallback
	}
	tmpl, ok := tt.byName[field]
	if !ok {
		return fallback
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, a); err != nil {
		tt.failed(field, err)
		return fallback
	}
	out := strings.TrimSpace(buf.String())
	if out == "" {
		return fallback
	}
	return out
}

// failed logs and reports a template that did not execute.
func (tt *TextTemplates) failed(field string, err error) {
	if tt.o.Logger != nil {
		tt.o.Logger.Warn("template failed, using the default rendering", "field", field, "err", err)
	}
	if tt.o.OnTemplateError != nil {
		tt.o.OnTemplateError(tt.target, field)
	}
}
