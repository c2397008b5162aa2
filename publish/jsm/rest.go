package jsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/genie"
)

// RESTAPI is the rest_api block: how update_alerts reaches JSM
// Operations' REST API
// (https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v2/api-group-alerts/),
// which takes an Atlassian account's email and API token as basic auth,
// under the site's cloud id, and names alerts by id, not alias.
type RESTAPI struct {
	// CloudID is the site's cloud id, the "cloudId" of
	// https://<site>.atlassian.net/_edge/tenant_info
	// (https://support.atlassian.com/jira/kb/retrieve-my-atlassian-sites-cloud-id/).
	CloudID      string         `yaml:"cloud_id"`
	Email        string         `yaml:"email"`
	APIToken     publish.Secret `yaml:"api_token"`
	APITokenFile string         `yaml:"api_token_file"`
	// URL is the API base; it overrides https://api.atlassian.com
	// (proxies, tests).
	URL string `yaml:"url"`
}

// cloudIDShape is one path segment of letters, digits and dashes: cloud
// ids are UUIDs.
var cloudIDShape = regexp.MustCompile(`^[A-Za-z0-9-]+$`)

// Validate applies the default url, checks the block and reads the
// token; dir resolves a relative api_token_file. Errors start with
// "rest_api", the key the loader points at, and never hold the token.
func (r *RESTAPI) Validate(dir string) error {
	if r.URL == "" {
		r.URL = JSMURL
	}
	if err := publish.CheckURL(r.URL); err != nil {
		return fmt.Errorf("rest_api.url: %w", err)
	}
	if !cloudIDShape.MatchString(r.CloudID) {
		return errors.New("rest_api.cloud_id: required, the site's cloud id (the cloudId of https://<site>.atlassian.net/_edge/tenant_info)")
	}
	if !strings.Contains(r.Email, "@") {
		return errors.New("rest_api.email: required, the email of the Atlassian account whose API token this is")
	}
	if err := publish.RequiredSecret(&r.APIToken, &r.APITokenFile, "api_token", dir); err != nil {
		return fmt.Errorf("rest_api.%w", err)
	}
	r.APITokenFile = ""
	return nil
}

// restUpdater is the genie.Updater of update_alerts: after the create
// it looks the alert up by alias (GET {alerts}/alias?alias=...), and
// when it is open with other texts updates them by its id (PATCH
// {alerts}/{id}/message with {"message"} and PATCH
// {alerts}/{id}/description with {"description"}), where {alerts} is
// {url}/jsm/ops/api/{cloudId}/v1/alerts. The REST API reference lists
// Update alert message, Update alert description and Get alert, by id;
// Get alert by alias is in its OpenAPI document (and in clients generated
// from it), with the alias as a query parameter. The reference gives no
// field limits: the Alert API's (130 and 15000 characters) are kept, and
// the texts come cut to them. Nor does it publish a rate limit: 429 is
// retried after its Retry-After.
type restUpdater struct {
	alerts string
	email  string
	token  string
	log    *slog.Logger
}

// idPlaceholder stands for the alert id in updates rendered without the
// lookup's answer.
const idPlaceholder = "JSM_ALERT_ID"

func newRESTUpdater(r *RESTAPI, o publish.Options) *restUpdater {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &restUpdater{
		alerts: strings.TrimRight(r.URL, "/") + "/jsm/ops/api/" + url.PathEscape(r.CloudID) + "/v1/alerts",
		email:  r.Email, token: string(r.APIToken), log: log,
	}
}

// openAlert is what the lookup reads of the alert: status is "open" or
// "closed", as in Opsgenie's Alert API.
type openAlert struct {
	ID          string `json:"id"`
	Status      string `json:"status"`
	Message     string `json:"message"`
	Description string `json:"description"`
}

// Update implements genie.Updater. An alias the lookup does not find
// (404: the create just sent is not processed yet, or no alert ever had
// it) or finds closed needs nothing: the create opens the alert with t.
func (u *restUpdater) Update(ctx context.Context, c *http.Client, alias string, t genie.Texts) error {
	a, err := u.lookup(ctx, c, alias)
	if err != nil || a == nil {
		return err
	}
	reqs, err := u.updates(ctx, a, t)
	if err != nil {
		return err
	}
	for _, req := range reqs {
		_, err := publish.Send(c, req, nil)
		if core.StatusCode(err) == http.StatusNotFound {
			// Deleted since the lookup: the create opens it anew.
			return nil
		}
		if err != nil {
			return restError("updating the alert", err)
		}
	}
	if len(reqs) > 0 {
		u.log.Debug("open alert's texts updated", "alias", alias, "updates", len(reqs))
	}
	return nil
}

// lookup returns the alert with alias when it is open, else nil.
func (u *restUpdater) lookup(ctx context.Context, c *http.Client, alias string) (*openAlert, error) {
	req, err := u.request(ctx, http.MethodGet, u.lookupURL(alias), nil)
	if err != nil {
		return nil, err
	}
	body, err := publish.Send(c, req, nil)
	if core.StatusCode(err) == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, restError("looking the alert up by alias", err)
	}
	var a openAlert
	if err := json.Unmarshal(body, &a); err != nil || a.ID == "" {
		return nil, core.Permanent(http.StatusOK, errors.New("rest_api: the lookup by alias answered no alert id"))
	}
	if a.Status == "closed" {
		return nil, nil
	}
	return &a, nil
}

// updates are the requests that make a show t: one per text that differs.
func (u *restUpdater) updates(ctx context.Context, a *openAlert, t genie.Texts) ([]*http.Request, error) {
	var reqs []*http.Request
	for _, f := range []struct{ field, have, want string }{
		{"message", a.Message, t.Message}, {"description", a.Description, t.Description},
	} {
		if f.have == f.want {
			continue
		}
		req, err := u.patch(ctx, a.ID, f.field, f.want)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, req)
	}
	return reqs, nil
}

// patch is Update alert message or Update alert description, by id: the
// body is {field: value}.
func (u *restUpdater) patch(ctx context.Context, id, field, value string) (*http.Request, error) {
	return u.request(ctx, http.MethodPatch, u.alerts+"/"+url.PathEscape(id)+"/"+field, map[string]string{field: value})
}

// Render implements genie.Updater: the lookup, and both updates with the
// id as idPlaceholder.
func (u *restUpdater) Render(ctx context.Context, alias string, t genie.Texts) ([]*http.Request, string, error) {
	lookup, err := u.request(ctx, http.MethodGet, u.lookupURL(alias), nil)
	if err != nil {
		return nil, "", err
	}
	message, err := u.patch(ctx, idPlaceholder, "message", t.Message)
	if err != nil {
		return nil, "", err
	}
	description, err := u.patch(ctx, idPlaceholder, "description", t.Description)
	if err != nil {
		return nil, "", err
	}
	return []*http.Request{lookup, message, description}, idPlaceholder,
		errors.New("update_alerts updates an open alert by the id its lookup by alias answers, and only the texts that differ")
}

// lookupURL is Get alert by alias.
func (u *restUpdater) lookupURL(alias string) string {
	return u.alerts + "/alias?" + url.Values{"alias": {alias}}.Encode()
}

// request is a request to the REST API with its basic auth; body nil
// sends none.
func (u *restUpdater) request(ctx context.Context, method, rawURL string, body any) (*http.Request, error) {
	var req *http.Request
	var err error
	if body == nil {
		req, err = http.NewRequestWithContext(ctx, method, rawURL, nil)
		if err != nil {
			err = errors.New("building request: invalid URL")
		}
	} else {
		req, err = publish.JSONRequest(ctx, method, rawURL, body, "application/json")
	}
	if err != nil {
		return nil, core.Permanent(0, err)
	}
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(u.email, u.token)
	return req, nil
}

// restError adds what failed to a REST API failure; a refused email and
// token (401, 403) says to check rest_api, without the token.
func restError(what string, err error) error {
	var de *core.DeliveryError
	if !errors.As(err, &de) {
		return fmt.Errorf("rest_api: %s: %w", what, err)
	}
	switch de.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		de.Err = fmt.Errorf("rest_api: JSM's REST API refused rest_api.email and its API token %s "+
			"(check the email, the token, rest_api.cloud_id and the account's access to JSM Operations alerts): %w", what, de.Err)
	default:
		de.Err = fmt.Errorf("rest_api: %s: %w", what, de.Err)
	}
	return de
}
