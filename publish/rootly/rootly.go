package rootly

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// rootly delivers alerts to Rootly (https://docs.rootly.com) in one of two
// modes.
//
// Mode "alertmanager" posts Alertmanager's v4 webhook payload, holding this
// one alert, to Rootly's Prometheus Alertmanager alert source
// (https://docs.rootly.com/integrations/alertmanager): the webhook URL and
// bearer token secret Rootly shows under Integrations > Prometheus
// Alertmanager, sent as "Authorization: Bearer <secret>". Rootly resolves
// its alert itself when the resolved notification arrives.
//
// Mode "alerts_api" uses the Rootly API v1 (JSON:API,
// https://docs.rootly.com/api-reference/overview): "POST /v1/alerts" with
// Content-Type application/vnd.api+json and "Authorization: Bearer <API
// key>". The attributes are those of the API's new_alert schema: source and
// summary are required; source is "alertmanager", one of the values the
// schema enumerates; external_id and deduplication_key are the alert's
// fingerprint. Rootly resolves an alert only by its Rootly id
// ("POST /v1/alerts/{id}/resolve"), and its list endpoint cannot filter by
// external id or deduplication key, so the id returned on creation is kept
// in the target's publish.State (a bucket of the store file) and used to
// resolve. The answer to a create echoes the whole alert, so it is read
// whole up to a bound set by what was sent; a create whose id cannot be
// read or stored fails permanently rather than pass for delivered. Rootly
// documents no length limit for these fields, so nothing is cut; the
// description annotation is left out of data when an attribute holds it.
// Answers: 201/200 success; 401, 404, 422 permanent with JSON:API
// {"errors":[{"title","detail"}]}; 408, 429 and 5xx retryable.
type rootly struct {
	spec *Config
	publish.HTTPTarget
	// ids is set in alerts_api mode only.
	ids publish.State
}

// jsonAPIType is the JSON:API media type Rootly's REST API requires.
const jsonAPIType = "application/vnd.api+json"

// rootlyIDRetention bounds how long a created alert's id is kept for its
// resolve: longer than any alert should fire.
const rootlyIDRetention = 90 * 24 * time.Hour

func newRootly(name string, s *Config, o publish.Options) (*rootly, error) {
	// Validation allows templates in alerts_api mode only, so parsing them
	// in either mode is the same.
	h, err := publish.NewHTTPTarget(name, s.HTTPConfig, s.Templates, o)
	if err != nil {
		return nil, err
	}
	r := &rootly{spec: s, HTTPTarget: h}
	if s.Mode != RootlyModeAlertsAPI {
		return r, nil
	}
	if r.ids, err = o.StateOf(name); err != nil {
		return nil, err
	}
	return r, nil
}

// Publish sends the alert; in alerts_api mode it remembers the id of a
// created alert and forgets it once resolved.
func (r *rootly) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	if r.ids != nil && a.Alert.Status != core.StatusResolved {
		return r.create(ctx, a)
	}
	if _, err := r.SendRendered(ctx, a, r.Render, nil); err != nil || r.ids == nil {
		return err
	}
	if err := r.ids.Delete(ctx, publish.FiringKey(a)); err != nil {
		r.Log.Warn("could not forget the resolved Rootly alert id", "fingerprint", a.Alert.Fingerprint, "err", err)
	}
	return nil
}

// create creates the alert and keeps its id. A create whose id is lost
// fails permanently: reporting it delivered would hide that its resolve
// can never be sent, and sending it again would page again.
func (r *rootly) create(ctx context.Context, a *core.EnrichedAlert) error {
	reqs, err := r.Render(ctx, a)
	if err != nil {
		return err
	}
	return r.createAndKeep(ctx, reqs[0], publish.FiringKey(a))
}

// createAndKeep sends the create req and keeps the id Rootly answers
// under key, for the resolve.
func (r *rootly) createAndKeep(ctx context.Context, req *http.Request, key string) error {
	body, err := publish.SendWhole(r.Client, req, nil, rootlyAnswerBound(req.ContentLength))
	if errors.Is(err, publish.ErrAnswerTooLarge) {
		return fmt.Errorf("alert created, but its Rootly id is unknown and its resolve cannot be sent (resolve it in Rootly): %w", err)
	}
	if err != nil {
		return err
	}
	id := rootlyCreatedID(body)
	if id == "" {
		return core.Permanent(0, fmt.Errorf("alert created, but Rootly answered without an alert id, so its resolve cannot be sent (resolve it in Rootly): %s", publish.AnswerText(body)))
	}
	if err := r.ids.Put(ctx, key, []byte(id), rootlyIDRetention); err != nil {
		return core.Permanent(0, fmt.Errorf("alert %s created in Rootly, but its id could not be stored, so its resolve cannot be sent (resolve it in Rootly): %w", id, err))
	}
	return nil
}

// rootlyAnswerBound is how much of the answer to a create of sent bytes
// is read. Rootly's answer echoes every attribute sent with the ones it
// adds (services, groups, environments: a few kB each)
// (https://docs.rootly.com/api-reference/alerts/creates-an-alert); its
// JSON may escape a character that took 2 bytes as 6 ("\u00e9"), hence
// four times what was sent, above Send's default.
func rootlyAnswerBound(sent int64) int64 {
	return publish.DefaultMaxAnswer + 4*max(sent, 0)
}

// Render builds the one request Publish sends.
func (r *rootly) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	var req *http.Request
	var err error
	switch {
	case r.spec.Mode != RootlyModeAlertsAPI:
		req, err = r.sourceRequest(ctx, publish.AlertmanagerMessage(a))
	case a.Alert.Status == core.StatusResolved:
		req, err = r.resolveRequest(ctx, a)
	default:
		req, err = publish.JSONRequest(ctx, http.MethodPost, r.spec.APIURL+"/v1/alerts", r.newAlert(a), jsonAPIType)
	}
	if err != nil {
		return nil, err
	}
	if r.spec.Mode == RootlyModeAlertsAPI {
		r.setAPIHeaders(req)
	}
	return []*http.Request{req}, nil
}

func (r *rootly) resolveRequest(ctx context.Context, a *core.EnrichedAlert) (*http.Request, error) {
	return r.resolveByKey(ctx, publish.FiringKey(a), a.Alert.EndsAt, func() error {
		return fmt.Errorf("no Rootly alert id is known for fingerprint %s started at %s (its firing was not delivered by this target, or the id expired): resolve it in Rootly",
			a.Alert.Fingerprint, a.Alert.StartsAt.UTC().Format(time.RFC3339))
	})
}

// resolveByKey is the resolve of the alert whose id is kept under key,
// which resolved at endsAt; unknown says why it cannot be sent when no id
// is kept.
func (r *rootly) resolveByKey(ctx context.Context, key string, endsAt time.Time, unknown func() error) (*http.Request, error) {
	id, ok, err := r.ids.Get(ctx, key)
	if err != nil {
		return nil, core.Permanent(0, err)
	}
	if ok {
		return r.resolveRequestFor(ctx, endsAt, string(id))
	}
	// The request it would be, for dry runs, which keep no ids.
	req, err := r.resolveRequestFor(ctx, endsAt, rootlyIDPlaceholder)
	if err != nil {
		return nil, err
	}
	r.setAPIHeaders(req)
	return nil, core.Permanent(0, &publish.NeedsEarlierAnswer{
		Err:         unknown(),
		Placeholder: rootlyIDPlaceholder,
		Requests:    []*http.Request{req},
	})
}

// rootlyIDPlaceholder stands for the alert id in a resolve rendered
// without it.
const rootlyIDPlaceholder = "ROOTLY_ALERT_ID"

func (r *rootly) resolveRequestFor(ctx context.Context, endsAt time.Time, id string) (*http.Request, error) {
	body := jsonAPIDocument{Data: jsonAPIResource{Type: "alerts", Attributes: rootlyResolve{
		ResolutionMessage: "Resolved in Alertmanager at " + endsAt.UTC().Format(time.RFC3339),
	}}}
	return publish.JSONRequest(ctx, http.MethodPost, r.spec.APIURL+"/v1/alerts/"+url.PathEscape(id)+"/resolve", body, jsonAPIType)
}

// setAPIHeaders sets what every request to the REST API carries.
func (r *rootly) setAPIHeaders(req *http.Request) {
	req.Header.Set("Accept", jsonAPIType)
	req.Header.Set("Authorization", "Bearer "+string(r.spec.APIToken))
}

// jsonAPIDocument is a JSON:API request document with one resource.
type jsonAPIDocument struct {
	Data jsonAPIResource `json:"data"`
}

type jsonAPIResource struct {
	ID         string `json:"id,omitempty"`
	Type       string `json:"type"`
	Attributes any    `json:"attributes"`
}

// rootlyNewAlert holds the new_alert attributes am-fanout sets.
type rootlyNewAlert struct {
	Source                 string         `json:"source"`
	Summary                string         `json:"summary"`
	Description            string         `json:"description,omitempty"`
	StartedAt              time.Time      `json:"started_at"`
	ExternalID             string         `json:"external_id"`
	ExternalURL            string         `json:"external_url,omitempty"`
	DeduplicationKey       string         `json:"deduplication_key"`
	NotificationTargetType string         `json:"notification_target_type,omitempty"`
	NotificationTargetID   string         `json:"notification_target_id,omitempty"`
	Labels                 []rootlyLabel  `json:"labels"`
	Data                   map[string]any `json:"data"`
}

type rootlyLabel struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type rootlyResolve struct {
	ResolutionMessage string `json:"resolution_message"`
}

func (r *rootly) newAlert(a *core.EnrichedAlert) jsonAPIDocument {
	labels := make([]rootlyLabel, 0, len(a.Alert.Labels))
	for _, k := range slices.Sorted(maps.Keys(a.Alert.Labels)) {
		labels = append(labels, rootlyLabel{Key: k, Value: a.Alert.Labels[k]})
	}
	summary := r.Tmpl.Render("summary", a, publish.IncidentHeadline(a))
	description := r.Tmpl.Render("description", a, rootlyDescription(a))
	data := map[string]any{
		"fingerprint": a.Alert.Fingerprint,
		"severity":    a.Classification.Severity,
		"annotations": rootlyAnnotations(a, summary, description),
		"group_key":   a.Group.GroupKey,
		"receiver":    a.Group.Receiver,
	}
	if a.Classification.Priority != "" {
		data["priority"] = a.Classification.Priority
	}
	if len(a.Links) > 0 {
		data["links"] = a.Links
	}
	return jsonAPIDocument{Data: jsonAPIResource{Type: "alerts", Attributes: rootlyNewAlert{
		Source:                 "alertmanager",
		Summary:                summary,
		Description:            description,
		StartedAt:              a.Alert.StartsAt.UTC(),
		ExternalID:             a.Alert.Fingerprint,
		ExternalURL:            a.Alert.GeneratorURL,
		DeduplicationKey:       a.Alert.Fingerprint,
		NotificationTargetType: r.spec.NotificationTargetType,
		NotificationTargetID:   r.spec.NotificationTargetID,
		Labels:                 labels,
		Data:                   data,
	}}}
}

// rootlyAnnotations are the alert's annotations for data, without the
// description annotation when the summary or description attribute
// already holds it: it can be long, and Rootly stores and echoes both.
func rootlyAnnotations(a *core.EnrichedAlert, summary, description string) map[string]string {
	out := maps.Clone(a.Alert.Annotations)
	if d := out["description"]; d != "" && (strings.Contains(description, d) || strings.Contains(summary, d)) {
		delete(out, "description")
	}
	return out
}

// rootlyDescription holds the description annotation when the summary did
// not already use it, the severity and the links a responder needs.
func rootlyDescription(a *core.EnrichedAlert) string {
	var b strings.Builder
	if d := a.Alert.Annotations["description"]; d != "" && d != a.Summary() {
		b.WriteString(d + "\n\n")
	}
	fmt.Fprintf(&b, "Severity: %s", a.Classification.Severity)
	for _, l := range a.Links {
		fmt.Fprintf(&b, "\n%s: %s", publish.TitleOfLink(l.Name), l.URL)
	}
	return b.String()
}

// rootlyCreatedID reads the id of the created alert from Rootly's answer,
// "" when absent.
func rootlyCreatedID(body []byte) string {
	var doc struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return ""
	}
	return doc.Data.ID
}
