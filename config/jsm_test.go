package config

import (
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/publish/jsm"
)

const (
	testCloudID  = "c57406ca-2b5e-4b71-9f5c-1d3e2a7b8c90"
	testJSMToken = "ATATT3xFfGF0-rest-api-token"
)

func TestJSMConfig(t *testing.T) {
	dir := t.TempDir()
	writeFileForTest(t, dir, "jsm-key", testOpsgenieKey+"\n")
	writeFileForTest(t, dir, "jsm-token", testJSMToken+"\n")
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
		{
			name: "update_alerts with rest_api reads the token file and defaults the url",
			yaml: key + "    update_alerts: true\n    rest_api:\n      cloud_id: " + testCloudID + "\n      email: bot@example.com\n      api_token_file: jsm-token\n",
			check: func(t *testing.T, c *jsm.Config) {
				r := c.RESTAPI
				if !c.UpdateAlerts || r == nil || string(r.APIToken) != testJSMToken || r.APITokenFile != "" || r.URL != jsm.JSMURL || r.CloudID != testCloudID {
					t.Errorf("rest_api = %+v, want the file's token, the default url and the cloud id", r)
				}
			},
		},
		{
			name: "update_alerts without rest_api is refused at its line", yaml: key + "    update_alerts: true\n",
			wantErr: []string{"am-fanout.yml:5: ", "update_alerts: needs a rest_api block", "REST API"},
		},
		{
			name: "rest_api without update_alerts is refused", yaml: key + "    rest_api: {cloud_id: " + testCloudID + ", email: bot@example.com, api_token: x}\n",
			wantErr: []string{"am-fanout.yml:5: ", "rest_api: only update_alerts: true uses it"},
		},
		{
			name: "rest_api needs a cloud id", yaml: key + "    update_alerts: true\n    rest_api: {email: bot@example.com, api_token_file: jsm-token}\n",
			wantErr: []string{"am-fanout.yml:6: ", "rest_api.cloud_id: required", "_edge/tenant_info"},
		},
		{
			name: "rest_api needs an email", yaml: key + "    update_alerts: true\n    rest_api: {cloud_id: " + testCloudID + ", api_token_file: jsm-token}\n",
			wantErr: []string{"rest_api.email: required"},
		},
		{
			name: "rest_api needs a token", yaml: key + "    update_alerts: true\n    rest_api: {cloud_id: " + testCloudID + ", email: bot@example.com}\n",
			wantErr: []string{"rest_api.one of api_token or api_token_file is required"},
		},
		{
			name: "rest_api token and token file together", yaml: key + "    update_alerts: true\n    rest_api: {cloud_id: " + testCloudID + ", email: bot@example.com, api_token: " + testJSMToken + ", api_token_file: jsm-token}\n",
			wantErr: []string{"rest_api.api_token, api_token_file: the value and its _file are mutually exclusive"},
		},
		{
			name: "rest_api url must be a URL", yaml: key + "    update_alerts: true\n    rest_api: {cloud_id: " + testCloudID + ", email: bot@example.com, api_token_file: jsm-token, url: ftp://x}\n",
			wantErr: []string{"rest_api.url: scheme must be http or https"},
		},
		{name: "rest_api takes no unknown key", yaml: key + "    update_alerts: true\n    rest_api: {cloudid: x}\n", wantErr: []string{`unknown field "cloudid"`}},
		{name: "bad url", yaml: key + "    url: not a url\n", wantErr: []string{"url:"}},
		{name: "user by name", yaml: key + "    responders: [{type: user, name: x}]\n", wantErr: []string{"id or username, not name"}},
		{name: "too many tags", yaml: key + "    tags: [" + strings.Repeat("t,", 20) + "t]\n", wantErr: []string{"tags: at most 20, got 21"}},
		{name: "bad priority", yaml: key + "    priority_map: {warning: P9}\n", wantErr: []string{`priority_map.warning: "P9"`}},
		{name: "bad template field", yaml: key + "    templates: {title: x}\n", wantErr: []string{`unknown field "title"`}},
	})
}
