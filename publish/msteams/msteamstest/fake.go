package msteamstest

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

const (
	// TeamsMaxBytes is Teams' documented message size limit, about 28 KB
	// ("Request Entity too large",
	// https://learn.microsoft.com/en-us/connectors/teams/#known-issues-and-limitations).
	TeamsMaxBytes = 28000
	// TeamsThrottledBody is the text the Teams connector answers with HTTP
	// 200 when it throttles a webhook.
	TeamsThrottledBody = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-weu-azsc3-3-12,cv=AbCdEf.0.."

	teamsFlowPath        = "/workflows/0f1e2d3c/triggers/manual/paths/invoke"
	adaptiveCardSchema   = "http://adaptivecards.io/schemas/adaptive-card.json"
	adaptiveCardMIMEType = "application/vnd.microsoft.card.adaptive"
)

// Teams is a Teams Workflows webhook ("Post to a channel when a webhook
// request is received") enforcing what Teams documents: POST of a JSON
// message of type "message" whose attachments are Adaptive Cards (content
// type, $schema, type, a version Teams renders, a body), a whole message of
// at most 28 KB; it answers 202 Accepted, and Power Automate's
// {"error":{"code","message"}} on failure.
//
// The 28 KB are counted as Teams counts them: a body whose Content-Type
// does not say charset=utf-8 is converted to UTF-16 first, two bytes a
// character, so it is refused from about 14 KB
// (https://stackoverflow.com/questions/78034694). Where Teams accepts such
// a message with 202 and fails the flow's run later, the fake answers 413
// at once, so a test sees the message that would never be posted. It can be scripted to answer
// like the Teams connector does when throttled: HTTP 200 with the failure
// in the text (TeamsThrottledBody). Past TeamsPerSecond requests a second
// (after a burst of as many), it answers 429 with a Retry-After.
type Teams struct {
	srv *httptest.Server

	mu       sync.Mutex
	now      func() time.Time
	pace     publishtest.Buckets
	sig      string
	script   publishtest.Script
	bodies   [][]byte
	requests int
}

// NewTeams starts a Teams fake whose workflow URL carries the signature
// sig; it stops when the test ends.
func NewTeams(t testing.TB, sig string) *Teams {
	f := &Teams{sig: sig, now: time.Now, pace: publishtest.Buckets{PerSecond: TeamsPerSecond, Burst: TeamsPerSecond}}
	f.srv = publishtest.Serve(t, f)
	return f
}

// TeamsPerSecond is how many requests a second a webhook takes before
// Teams throttles it: "more than four requests" a second are refused
// (https://learn.microsoft.com/en-us/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using#rate-limiting-for-connectors).
const TeamsPerSecond = 4

// SetRateLimit changes the fake's pace; a perSecond of 0 switches it off.
func (f *Teams) SetRateLimit(perSecond float64, burst int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pace.Reset(perSecond, burst)
}

// SetClock gives the fake's pace a clock, such as a publishtest.Clock's
// Now, in place of the wall clock.
func (f *Teams) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// URL is the workflow URL, with its signature.
func (f *Teams) URL() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.srv.URL + teamsFlowPath + "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + f.sig
}

// Regenerate gives the workflow URL a new signature, as regenerating it in
// Power Automate does: the old URL is refused from then on.
func (f *Teams) Regenerate(sig string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sig = sig
}

// Close stops the fake, as if Teams were unreachable.
func (f *Teams) Close() { f.srv.Close() }

// Script queues answers served, in order, before any check.
func (f *Teams) Script(a ...publishtest.Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, a...)
}

// Bodies are the accepted messages, in order.
func (f *Teams) Bodies() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.bodies)
}

// Requests counts every request the fake answered, scripted ones included.
func (f *Teams) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func flowError(w http.ResponseWriter, code int, errCode, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": errCode, "message": message}})
}

// ServeHTTP answers as a Teams workflow does.
func (f *Teams) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if a, ok := f.script.Next(); ok {
		a.Write(w, "")
		return
	}
	if r.URL.Path != teamsFlowPath || r.URL.Query().Get("sig") != f.sig {
		flowError(w, http.StatusUnauthorized, "DirectApiAuthorizationRequired", "The request must be authenticated")
		return
	}
	if r.Method != http.MethodPost {
		flowError(w, http.StatusMethodNotAllowed, "TriggerRequestMethodNotValid", "The HTTP method for this request is not valid: expected 'Post'")
		return
	}
	if ok, wait := f.pace.Take(r.URL.Path, f.now()); !ok {
		publishtest.SetRetryAfter(w.Header(), wait)
		flowError(w, http.StatusTooManyRequests, "TooManyRequests", "Rate limit is exceeded. Try again later.")
		return
	}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		flowError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content type must be application/json")
		return
	}
	if size, how := teamsSize(body, params["charset"]); size > TeamsMaxBytes {
		flowError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge",
			"Request Entity too large: message of "+strconv.Itoa(len(body))+" bytes counts "+strconv.Itoa(size)+" bytes "+how+", over 28 KB")
		return
	}
	if msg := checkTeamsMessage(body); msg != "" {
		flowError(w, http.StatusBadRequest, "InvalidRequestContent", msg)
		return
	}
	f.bodies = append(f.bodies, body)
	w.WriteHeader(http.StatusAccepted)
}

// teamsSize is the size Teams counts for a body sent with charset, and
// how it counted: the bytes as sent when they are declared UTF-8, else
// two bytes for each UTF-16 unit they become.
func teamsSize(body []byte, charset string) (int, string) {
	if strings.EqualFold(charset, "utf-8") {
		return len(body), "as UTF-8"
	}
	return 2 * len(utf16.Encode([]rune(string(body)))), "as UTF-16 (the Content-Type does not say charset=utf-8)"
}

// checkTeamsMessage returns what is wrong with a message, "" if nothing.
func checkTeamsMessage(body []byte) string {
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string          `json:"contentType"`
			ContentURL  json.RawMessage `json:"contentUrl"`
			Content     struct {
				Schema  string            `json:"$schema"`
				Type    string            `json:"type"`
				Version string            `json:"version"`
				Body    []json.RawMessage `json:"body"`
				Actions []struct {
					Type  string `json:"type"`
					Title string `json:"title"`
					URL   string `json:"url"`
				} `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return "body is not JSON: " + err.Error()
	}
	if msg.Type != "message" || len(msg.Attachments) == 0 {
		return `want {"type":"message","attachments":[...]}`
	}
	for _, a := range msg.Attachments {
		c := a.Content
		switch {
		case a.ContentType != adaptiveCardMIMEType:
			return "attachment contentType must be " + adaptiveCardMIMEType
		case string(a.ContentURL) != "null":
			return "contentUrl must be null for an inline card"
		case c.Schema != adaptiveCardSchema || c.Type != "AdaptiveCard":
			return "content must be an AdaptiveCard with its $schema"
		case c.Version == "" || c.Version > "1.5":
			return "card version must be one Teams renders (up to 1.5), got " + c.Version
		case len(c.Body) == 0:
			return "card body is empty"
		}
		for _, el := range c.Body {
			if msg := checkCardElement(el); msg != "" {
				return msg
			}
		}
		for _, act := range c.Actions {
			if act.Type != "Action.OpenUrl" || act.Title == "" || act.URL == "" {
				return "actions must be Action.OpenUrl with a title and url"
			}
		}
	}
	return ""
}

func checkCardElement(raw json.RawMessage) string {
	var el struct {
		Type  string            `json:"type"`
		Text  *string           `json:"text"`
		Items []json.RawMessage `json:"items"`
		Facts []struct {
			Title *string `json:"title"`
			Value *string `json:"value"`
		} `json:"facts"`
	}
	if err := json.Unmarshal(raw, &el); err != nil {
		return "card element: " + err.Error()
	}
	switch el.Type {
	case "TextBlock":
		if el.Text == nil {
			return "TextBlock without text"
		}
	case "FactSet":
		for _, f := range el.Facts {
			if f.Title == nil || f.Value == nil {
				return "fact without title or value"
			}
		}
	case "Container":
		for _, it := range el.Items {
			if msg := checkCardElement(it); msg != "" {
				return msg
			}
		}
	default:
		return "unexpected card element " + el.Type
	}
	return ""
}
