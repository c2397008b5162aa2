package genie

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"text/template"

	amtemplate "github.com/prometheus/alertmanager/template"

	"github.com/am-fanout/am-fanout/publish"
)

// Responders and visible_to may be templated, as in Alertmanager's
// Opsgenie integration: each field of a responder is a template over
// Alertmanager's data (the notification's, or for one alert the payload
// Alertmanager would send for it alone), such as
// `name: '{{ .CommonLabels.team }}'`. A responder whose id, name and
// username render empty is left out, so one can be filled from a label
// only some alerts carry.

// templated reports whether a field holds a template.
func templated(s string) bool { return strings.Contains(s, "{{") }

// responderTemplates are the parsed fields of one responder.
type responderTemplates struct {
	typ, id, name, username *template.Template
}

// parseResponders parses the fields of rs; field names the key in errors.
func parseResponders(field string, rs []Responder) ([]responderTemplates, error) {
	out := make([]responderTemplates, len(rs))
	for i, r := range rs {
		t, err := publish.Templates{"type": r.Type, "id": r.ID, "name": r.Name, "username": r.Username}.Parse()
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		out[i] = responderTemplates{typ: t["type"], id: t["id"], name: t["name"], username: t["username"]}
	}
	return out, nil
}

// renderResponders executes the templates over data. A responder whose
// fields all render empty is left out, as are those that render to what
// the API would refuse (an unknown type, no id or name) or fail to
// render, which are logged without their values and reported.
func (g *Publisher) renderResponders(field string, rs []responderTemplates, types []string, data *amtemplate.Data) []responder {
	out := make([]responder, 0, len(rs))
	for i, rt := range rs {
		var r responder
		var failed error
		for _, f := range []struct {
			t   *template.Template
			dst *string
		}{{rt.typ, &r.Type}, {rt.id, &r.ID}, {rt.name, &r.Name}, {rt.username, &r.Username}} {
			var buf bytes.Buffer
			if err := f.t.Execute(&buf, data); err != nil {
				failed = err
			}
			*f.dst = strings.TrimSpace(buf.String())
		}
		named := r.Name
		if r.Type == "user" {
			named = r.Username
		}
		switch {
		case failed != nil:
			g.responderFailed(field, i, "template failed: "+failed.Error())
		case r.ID == "" && r.Name == "" && r.Username == "":
			// Filled from a label this notification lacks: no one to add.
		case !slices.Contains(types, r.Type):
			g.responderFailed(field, i, "rendered type is not one of "+strings.Join(types, ", "))
		case r.ID == "" && named == "":
			g.responderFailed(field, i, "rendered without id or name")
		default:
			out = append(out, r)
		}
	}
	return out
}

func (g *Publisher) responderFailed(field string, i int, why string) {
	g.Log.Warn("responder left out", "field", fmt.Sprintf("%s[%d]", field, i), "reason", why)
	if g.onTemplateError != nil {
		g.onTemplateError(g.target, field)
	}
}
