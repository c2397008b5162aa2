package publish

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// teamsFake is a Teams Workflows webhook ("Post to a channel when a webhook
// request is received") enforcing what Teams documents: POST of a JSON
// message of type "message" whose attachments are Adaptive Cards (content
// type, $schema, type, a version Teams renders, a body), a whole message of
// at most 28 KB; it answers 202 Accepted, and Power Automate's
// {"error":{"code","message"}} on failure. It can be told to answer like
// the Teams connector does when throttled: HTTP 200 with the failure in
// the text.
type teamsFake struct {
	srv *httptest.Server
	sig string

	mu      sync.Mutex
	answers []teamsFakeAnswer
	bodies  [][]byte
	hits    int
}

type teamsFakeAnswer struct {
	code        int
	retryAfter  string
	contentType string
	body        string
}

// teamsThrottledBody is the text the Teams connector answers with HTTP 200
// when it throttles a webhook.
const teamsThrottledBody = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId tcid=0,server=msgapi-production-weu-azsc3-3-12,cv=AbCdEf.0.."

const teamsFlowPath = "/workflows/0f1e2d3c/triggers/manual/paths/invoke"

func newTeamsFake(t *testing.T, sig string) *teamsFake {
	f := &teamsFake{sig: sig}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// url is the workflow URL, with its signature.
func (f *teamsFake) url() string {
	return f.srv.URL + teamsFlowPath + "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + f.sig
}

func (f *teamsFake) answer(a teamsFakeAnswer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = append(f.answers, a)
}

func (f *teamsFake) received() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies
}

func (f *teamsFake) requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func flowError(w http.ResponseWriter, code int, errCode, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": errCode, "message": message}})
}

func (f *teamsFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hits++
	if len(f.answers) > 0 {
		a := f.answers[0]
		f.answers = f.answers[1:]
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		if a.contentType != "" {
			w.Header().Set("Content-Type", a.contentType)
		}
		w.WriteHeader(a.code)
		io.WriteString(w, a.body)
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
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		flowError(w, http.StatusBadRequest, "InvalidRequestContent", "The request content type must be application/json")
		return
	}
	if len(body) > teamsMaxBytes {
		flowError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "message of "+strconv.Itoa(len(body))+" bytes exceeds 28 KB")
		return
	}
	if msg := checkTeamsMessage(body); msg != "" {
		flowError(w, http.StatusBadRequest, "InvalidRequestContent", msg)
		return
	}
	f.bodies = append(f.bodies, body)
	w.WriteHeader(http.StatusAccepted)
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
