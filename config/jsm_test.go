package config

import (
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish/jsm"
)

func TestJSMConfig(t *testing.T) {
	dir := t.TempDir()
	writeFileForTest(t, dir, "jsm-key", testOpsgenieKey+"\n")
	head := "  - name: jsm\n    type: jsm\n"
	key := head + "    api_key: " + testOpsgenieKey + "\n"
	runSpecCases(t, dir, testOpsgenieKey, []specCase[*jsm.Config]{
		{
			name: "inline key gets the Atlassian API", yaml: key,
			check: func(t *testing.T, c *jsm.Config) {
				if c.URL != jsm.JSMURL {
					t.Errorf("url = %q, want the default %q", c.URL, jsm.JSMURL)
				}
			},
		},
		{
			name: "key file is read and trimmed, responders and tags as for opsgenie",
			yaml: head + "    api_key_file: jsm-key\n    responders: [{type: team, name: NOC}, {type: user, username: a@example.com}]\n    tags: [prod]\n",
			check: func(t *testing.T, c *jsm.Config) {
				if string(c.APIKey) != testOpsgenieKey || len(c.Responders) != 2 || len(c.Tags) != 1 {
					t.Errorf("got key %q, %d responders, %d tags; want the file's key, 2 and 1", c.APIKey, len(c.Responders), len(c.Tags))
				}
			},
		},
		{name: "missing key", yaml: head + "    entity: x\n", wantErr: []string{"one of api_key or api_key_file is required"}},
		{name: "region is Opsgenie's only", yaml: key + "    region: eu\n", wantErr: []string{`unknown field "region"`}},
		{name: "update_alerts is refused with the reason", yaml: key + "    update_alerts: true\n", wantErr: []string{"update_alerts:", "REST API"}},
		{name: "bad url", yaml: key + "    url: not a url\n", wantErr: []string{"url:"}},
		{name: "user by name", yaml: key + "    responders: [{type: user, name: x}]\n", wantErr: []string{"id or username, not name"}},
		{name: "too many tags", yaml: key + "    tags: [" + strings.Repeat("t,", 20) + "t]\n", wantErr: []string{"tags: at most 20, got 21"}},
		{name: "bad priority", yaml: key + "    priority_map: {warning: P9}\n", wantErr: []string{`priority_map.warning: "P9"`}},
		{name: "bad template field", yaml: key + "    templates: {title: x}\n", wantErr: []string{`unknown field "title"`}},
	})
}
