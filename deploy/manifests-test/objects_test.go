package manifests

import (
	"strings"
	"testing"
)

func TestDecodeObjectRejectsWhatTheAPIServerWouldNotKnow(t *testing.T) {
	cases := []struct {
		name string
		doc  string
		want string // "" when the document must decode
	}{
		{"valid ConfigMap", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n", ""},
		{"unknown field deep in a pod", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: i, readOnly: true}]\n", `unknown field "readOnly"`},
		{"duplicate field", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\ndata: {k: w}\n", "already set"},
		{"wrong apiVersion", "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: a}\n", `want "apps/v1"`},
		{"kind the chart never renders", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", `kind "Pod"`},
		{"no name", "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "without metadata.name"},
		{"unknown field in a ServiceMonitor", "apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: a}\nspec: {selector: {}, endpoints: [{port: http, intervall: 30s}]}\n", `unknown field "intervall"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeObject([]byte(c.doc))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("valid document rejected: %v", err)
			case c.want != "" && err == nil:
				t.Fatalf("document accepted, want an error containing %q", c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
		})
	}
}

func TestSplitDocumentsDropsEmptyOnes(t *testing.T) {
	stream := "---\n# Source: a.yaml\n---\napiVersion: v1\nkind: ConfigMap\n---\n\n---\n# only a comment\napiVersion: v1\nkind: Secret\n"
	if got := len(SplitDocuments([]byte(stream))); got != 2 {
		t.Errorf("got %d documents, want 2", got)
	}
}
