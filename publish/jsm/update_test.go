package jsm

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/genie"
	"github.com/am-fanout/am-fanout/publish/jsm/jsmtest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

const (
	testCloudID  = "c57406ca-2b5e-4b71-9f5c-1d3e2a7b8c90"
	testEmail    = "oncall-bot@example.com"
	testAPIToken = "ATATT3xFfGF0-rest-api-token-SECRET"
)

var testUser = jsmtest.RESTUser{CloudID: testCloudID, Email: testEmail, Token: testAPIToken}

// newUpdatingJSM is a jsm publisher with update_alerts on, whose REST API
// is the fake's, as user.
func newUpdatingJSM(t *testing.T, fake *jsmtest.JSM, user jsmtest.RESTUser) *genie.Publisher {
	t.Helper()
	return newTestJSM(t, fake.URL(), testKey, func(c *Config) {
		c.UpdateAlerts = true
		c.RESTAPI = &RESTAPI{CloudID: user.CloudID, Email: user.Email, APIToken: publish.Secret(user.Token), URL: fake.URL()}
	}, publish.Options{})
}

// changed is the incident alert firing again with other annotations.
func changed() *core.EnrichedAlert {
	a := publishtest.IncidentAlert()
	a.Alert.Annotations["summary"] = "p99 latency above 5s"
	a.Alert.Annotations["description"] = "Now above 5s for 10 minutes."
	return a
}

func requestLines(calls []jsmtest.Call) string {
	var lines []string
	for _, c := range calls {
		lines = append(lines, c.Method+" "+c.Path+"?"+c.Query)
	}
	return strings.Join(lines, "\n")
}

// With update_alerts, a firing alert whose texts changed updates the open
// alert's message and description by the id its lookup by alias answers;
// unchanged texts, a first create and a resolution send no update.
func TestJSMUpdateAlerts(t *testing.T) {
	const byID = "/jsm/ops/api/" + testCloudID + "/v1/alerts/9b251e07-73c9-4907-9996-000000000001"
	lookup := "GET /jsm/ops/api/" + testCloudID + "/v1/alerts/alias?alias=a1b2c3d4e5f60718"
	tests := []struct {
		name  string
		first bool // whether the alert was created before
		alert func() *core.EnrichedAlert
		want  []string // the REST API requests of the second delivery
	}{
		{name: "changed annotations update message and description", first: true, alert: changed,
			want: []string{lookup, "PATCH " + byID + "/message?", "PATCH " + byID + "/description?"}},
		{name: "unchanged annotations send no update", first: true, alert: publishtest.IncidentAlert, want: []string{lookup}},
		{name: "an alias not yet created is only created", alert: changed, want: []string{lookup}},
		{name: "a resolution only closes", first: true, alert: publishtest.ResolvedIncidentAlert},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := jsmtest.NewJSMWithREST(t, testKey, testUser)
			p := newUpdatingJSM(t, fake, testUser)
			if tc.first {
				if err := p.Publish(context.Background(), publishtest.IncidentAlert()); err != nil {
					t.Fatalf("first Publish: %v (rejected: %v %v)", err, fake.Rejects(), fake.REST.Rejects())
				}
			}
			before := len(fake.REST.Calls())
			a := tc.alert()
			if err := p.Publish(context.Background(), a); err != nil {
				t.Fatalf("Publish: %v (rejected: %v %v)", err, fake.Rejects(), fake.REST.Rejects())
			}
			if got := requestLines(fake.REST.Calls()[before:]); got != strings.Join(tc.want, "\n") {
				t.Fatalf("REST API requests:\n%s\nwant:\n%s", got, strings.Join(tc.want, "\n"))
			}
			alerts := fake.Alerts()
			if len(alerts) != 1 {
				t.Fatalf("fake holds %d alerts, want 1", len(alerts))
			}
			create := fake.Calls()[len(fake.Calls())-1].Fields
			if a.Alert.Status == core.StatusFiring && (alerts[0].Message != create["message"] || alerts[0].Description != create["description"]) {
				t.Errorf("alert shows %q / %.30q, want the last create's texts %q / %.30q",
					alerts[0].Message, alerts[0].Description, create["message"], create["description"])
			}
		})
	}
}

// Group deliveries update the alert of the group's alias the same way.
func TestJSMGroupUpdateAlerts(t *testing.T) {
	fake := jsmtest.NewJSMWithREST(t, testKey, testUser)
	p := newUpdatingJSM(t, fake, testUser)
	if err := p.PublishGroup(context.Background(), publishtest.IncidentNotification()); err != nil {
		t.Fatalf("first PublishGroup: %v (rejected: %v %v)", err, fake.Rejects(), fake.REST.Rejects())
	}
	n := publishtest.IncidentNotification()
	n.Group.CommonAnnotations["summary"] = "p99 latency above 5s"
	if err := p.PublishGroup(context.Background(), n); err != nil {
		t.Fatalf("PublishGroup: %v (rejected: %v %v)", err, fake.Rejects(), fake.REST.Rejects())
	}
	calls := fake.REST.Calls()
	if got := requestLines(calls); !strings.Contains(got, "alias="+groupAlias) || !strings.HasSuffix(got, "/description?") || strings.Contains(got, "/message?") {
		t.Errorf("REST API requests:\n%s\nwant the lookups by the group's alias, then the description update alone (the subject did not change)", got)
	}
	if a := fake.Alerts(); len(a) != 1 || !strings.HasPrefix(a[0].Description, "p99 latency above 5s") {
		t.Errorf("alerts %+v, want one whose description starts with the new summary", a)
	}
}

func TestJSMUpdateClassifiesRESTAnswers(t *testing.T) {
	tests := []struct {
		name          string
		user          jsmtest.RESTUser
		script        []publishtest.Answer
		wantStatus    int
		wantRetryable bool
	}{
		{name: "a wrong token is a permanent 401 naming rest_api", user: jsmtest.RESTUser{CloudID: testCloudID, Email: testEmail, Token: "ATATT-wrong-token-SECRET"}, wantStatus: 401},
		{name: "403 is permanent", user: testUser, script: []publishtest.Answer{{Status: 403, Body: `{"message":"forbidden"}`}}, wantStatus: 403},
		{name: "429 is retryable", user: testUser, script: []publishtest.Answer{{Status: 429, RetryAfter: "3"}}, wantStatus: 429, wantRetryable: true},
		{name: "503 is retryable", user: testUser, script: []publishtest.Answer{{Status: 503}}, wantStatus: 503, wantRetryable: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := jsmtest.NewJSMWithREST(t, testKey, testUser)
			fake.REST.Script(tc.script...)
			logger, logs := publishtest.DebugLogger()
			p := newTestJSM(t, fake.URL(), testKey, func(c *Config) {
				c.UpdateAlerts = true
				c.RESTAPI = &RESTAPI{CloudID: tc.user.CloudID, Email: tc.user.Email, APIToken: publish.Secret(tc.user.Token), URL: fake.URL()}
			}, publish.Options{Logger: logger})
			err := p.Publish(context.Background(), publishtest.IncidentAlert())
			if err == nil {
				t.Fatal("Publish: want an error, got none")
			}
			if core.StatusCode(err) != tc.wantStatus || core.IsRetryable(err) != tc.wantRetryable {
				t.Errorf("error %v: status %d retryable %v, want %d %v", err, core.StatusCode(err), core.IsRetryable(err), tc.wantStatus, tc.wantRetryable)
			}
			if !strings.Contains(err.Error(), "rest_api") {
				t.Errorf("error %q does not name rest_api", err)
			}
			if tc.wantStatus == 401 && !strings.Contains(err.Error(), "rest_api.email and its API token") {
				t.Errorf("error %q does not say the email and token were refused", err)
			}
			basic := base64.StdEncoding.EncodeToString([]byte(tc.user.Email + ":" + tc.user.Token))
			for _, secret := range []string{tc.user.Token, basic} {
				publishtest.AssertSecretHidden(t, secret, err, logs)
			}
			if len(fake.Calls()) != 1 {
				t.Errorf("the create was sent %d times, want once, before the lookup", len(fake.Calls()))
			}
		})
	}
}

// Render shows the create, the lookup and both updates with the id as a
// placeholder, with basic auth on the REST API's requests, and sends
// nothing.
func TestJSMRenderWithUpdateAlertsShowsTheRESTRequests(t *testing.T) {
	fake := jsmtest.NewJSMWithREST(t, testKey, testUser)
	p := newUpdatingJSM(t, fake, testUser)
	_, err := p.Render(context.Background(), publishtest.IncidentAlert())
	later, ok := errors.AsType[*publish.NeedsEarlierAnswer](err)
	if !ok {
		t.Fatalf("Render: %v, want a NeedsEarlierAnswer", err)
	}
	var got []string
	for _, req := range later.Requests {
		got = append(got, req.Method+" "+req.URL.Path)
		if strings.HasPrefix(req.URL.Path, "/jsm/ops/api/") {
			if email, token, ok := req.BasicAuth(); !ok || email != testEmail || token != testAPIToken {
				t.Errorf("%s %s: no basic auth with the account's email and token", req.Method, req.URL.Path)
			}
		}
	}
	want := []string{
		"POST /jsm/ops/integration/v2/alerts",
		"GET /jsm/ops/api/" + testCloudID + "/v1/alerts/alias",
		"PATCH /jsm/ops/api/" + testCloudID + "/v1/alerts/" + later.Placeholder + "/message",
		"PATCH /jsm/ops/api/" + testCloudID + "/v1/alerts/" + later.Placeholder + "/description",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rendered:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := fake.Requests() + fake.REST.Requests(); n != 0 {
		t.Errorf("Render sent %d requests, want none", n)
	}
	if reqs, err := p.Render(context.Background(), publishtest.ResolvedIncidentAlert()); err != nil || len(reqs) != 1 || reqs[0].Method != http.MethodPost {
		t.Errorf("Render of a resolution: %d requests, %v; want the close alone", len(reqs), err)
	}
}
