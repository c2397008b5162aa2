package rootly

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
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
// in a small JSON file under the storage path (a publish.StateFile) and used to
// resolve. Rootly documents no length limit for these fields, so nothing is
// cut. Answers: 201/200 success; 401, 404, 422 permanent with JSON:API
// {"errors":[{"title","detail"}]}; 429 and 5xx retryable.
type rootly struct {
	spec *Config
	publish.HTTPTarget
	// ids is set in alerts_api mode only.
	ids *publish.StateFile[string]
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
	path := ""
	if o.StoragePath != "" {
		path = filepath.Join(o.StoragePath, "rootly-"+name+".json")
	} else {
		r.Log.Warn("no storage path: Rootly alert ids are kept in memory and resolves are lost on restart")
	}
	r.ids = publish.NewStateFile[string](path, "Rootly alert ids", rootlyIDRetention)
	if err := r.ids.Check(); err != nil {
		return nil, fmt.Errorf("target %q: %w", name, err)
	}
	return r, nil
}

// Publish sends the alert; in alerts_api mode it remembers the id of a
// created alert and forgets it once resolved.
func (r *rootly) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	body, err := r.SendRendered(ctx, a, r.Render, nil)
	if err != nil || r.ids == nil {
		return err
	}
	key := publish.FiringKey(a)
	if a.Alert.Status == core.StatusResolved {
		if err := r.ids.Delete(key); err != nil {
			r.Log.Warn("could not forget the resolved Rootly alert id", "fingerprint", a.Alert.Fingerprint, "err", err)
		}
		return nil
	}
	// The alert exists in Rootly now: failing the delivery would only
	// create it again, so a missing id or a storage error is logged.
	id := rootlyCreatedID(body)
	if id == "" {
		r.Log.Error("Rootly answered without an alert id: this alert's resolve cannot be sent", "fingerprint", a.Alert.Fingerprint)
		return nil
	}
	if err := r.ids.Put(key, id, time.Now()); err != nil {
		r.Log.Error("could not store the Rootly alert id: this alert's resolve may be lost", "fingerprint", a.Alert.Fingerprint, "err", err)
	}
	return nil
}

// Render builds the one request Publish sends.
func (r *rootly) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	var req *http.Request
	var err error
	switch {
	case r.spec.Mode != RootlyModeAlertsAPI:
		req, err = publish.JSONRequest(ctx, http.MethodPost, string(r.spec.URL), publish.AlertmanagerMessage(a), "application/json")
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+string(r.spec.Secret))
		}
	case a.Alert.Status == core.StatusResolved:
		req, err = r.resolveRequest(ctx, a)
	default:
		req, err = publish.JSONRequest(ctx, http.MethodPost, r.spec.APIURL+"/v1/alerts", r.newAlert(a), jsonAPIType)
	}
	if err != nil {
		return nil, err
	}
	if r.spec.Mode == RootlyModeAlertsAPI {
		req.Header.Set("Accept", jsonAPIType)
		req.Header.Set("Authorization", "Bearer "+string(r.spec.APIToken))
	}
	return []*http.Request{req}, nil
}

func (r *rootly) resolveRequest(ctx context.Context, a *core.EnrichedAlert) (*http.Request, error) {
	id, ok, err := r.ids.Get(publish.FiringKey(a), time.Now())
	if err != nil {
		return nil, core.Permanent(0, err)
	}
	if !ok {
		return nil, core.Permanent(0, fmt.Errorf("no Rootly alert id is known for fingerprint %s started at %s (its firing was not delivered by this target, or the id expired): resolve it in Rootly",
			a.Alert.Fingerprint, a.Alert.StartsAt.UTC().Format(time.RFC3339)))
	}
	body := jsonAPIDocument{Data: jsonAPIResource{Type: "alerts", Attributes: rootlyResolve{
		ResolutionMessage: "Resolved in Alertmanager at " + a.Alert.EndsAt.UTC().Format(time.RFC3339),
	}}}
	return publish.JSONRequest(ctx, http.MethodPost, r.spec.APIURL+"/v1/alerts/"+url.PathEscape(id)+"/resolve", body, jsonAPIType)
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
	data := map[string]any{
		"fingerprint": a.Alert.Fingerprint,
		"severity":    a.Classification.Severity,
		"annotations": publish.KV(a.Alert.Annotations),
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
		Summary:                r.Tmpl.Render("summary", a, publish.IncidentHeadline(a)),
		Description:            r.Tmpl.Render("description", a, rootlyDescription(a)),
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
