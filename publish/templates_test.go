package publish

import (
	"strings"
	"testing"
)

func TestTemplatesValidate(t *testing.T) {
	tests := []struct {
		name    string
		tmpls   Templates
		allowed []string
		wantErr []string // substrings the error must hold; nil means valid
	}{
		{name: "no templates are valid", tmpls: nil, allowed: []string{"title"}},
		{
			name:    "allowed fields parse",
			tmpls:   Templates{"title": "{{ .Alert.Labels.alertname }}", "text": "{{ .Summary }}"},
			allowed: []string{"title", "text"},
		},
		{
			name:    "alertmanager template functions are known",
			tmpls:   Templates{"title": `{{ .Alert.Labels.alertname | toUpper }} {{ join ", " (stringSlice "a" "b") }} {{ reReplaceAll "x" "y" "xx" }} {{ .Alert.StartsAt | date "15:04" }}`},
			allowed: []string{"title"},
		},
		{
			name:    "unknown field lists the allowed ones",
			tmpls:   Templates{"titel": "x"},
			allowed: []string{"title", "body"},
			wantErr: []string{`unknown field "titel"`, "allowed: body, title"},
		},
		{
			name:    "type without templates says so",
			tmpls:   Templates{"title": "x"},
			allowed: nil,
			wantErr: []string{`unknown field "title"`, "no templates"},
		},
		{
			name:    "parse error names the field",
			tmpls:   Templates{"text": "{{ .Alert.Labels.alertname "},
			allowed: []string{"text"},
			wantErr: []string{"templates.text:"},
		},
		{
			name:    "unknown function is a parse error",
			tmpls:   Templates{"text": "{{ nosuchfunc 1 }}"},
			allowed: []string{"text"},
			wantErr: []string{"templates.text:", "nosuchfunc"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tmpls.Validate(tc.allowed...)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("validate: want no error, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("validate: want an error holding %q, got none", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("validate error %q does not hold %q", err, want)
				}
			}
		})
	}
}

func TestTemplatesParseNamesEachTemplateByField(t *testing.T) {
	parsed, err := Templates{"title": "a", "text": "b"}.Parse()
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	for _, field := range []string{"title", "text"} {
		tmpl, ok := parsed[field]
		if !ok {
			t.Fatalf("Parse: no template for field %q", field)
		}
		if tmpl.Name() != field {
			t.Errorf("template of field %q is named %q, want the field name so errors point at it", field, tmpl.Name())
		}
	}
}

func TestTemplatesParseMissingKeyRendersEmpty(t *testing.T) {
	parsed, err := Templates{"text": "[{{ .labels.absent }}]"}.Parse()
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var b strings.Builder
	data := map[string]map[string]string{"labels": {}}
	if err := parsed["text"].Execute(&b, data); err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if b.String() != "[]" {
		t.Errorf("missing label rendered as %q, want %q (missingkey=zero)", b.String(), "[]")
	}
}
