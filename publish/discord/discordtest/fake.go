package discordtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// discordWebhookPath is the fake's webhook, id 1234 with its token.
const discordWebhookPath = "/api/webhooks/1234/WEBHOOKSECRET"

// Discord is a Discord channel webhook as documented: POST JSON to
// /api/webhooks/{id}/{token}, content or embeds required, every message
// and embed limit enforced with Discord's error shape
// {"code":…,"message":…}; 200 with the message when ?wait=true, else 204.
// Scripted answers are served first, to play rate limits and outages.
type Discord struct {
	srv *httptest.Server

	mu       sync.Mutex
	script   publishtest.Script
	requests int
	posts    [][]byte
	waits    []bool
}

// NewDiscord starts a Discord fake that stops when the test ends.
func NewDiscord(t testing.TB) *Discord {
	f := &Discord{}
	f.srv = publishtest.Serve(t, http.HandlerFunc(f.serve))
	return f
}

// URL is the webhook URL, with its token and no query.
func (f *Discord) URL() string { return f.srv.URL + discordWebhookPath }

// Close stops the fake, as if Discord were unreachable.
func (f *Discord) Close() { f.srv.Close() }

// Script queues answers served, in order, before any check; their
// Content-Type is application/json unless they name another.
func (f *Discord) Script(a ...publishtest.Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, a...)
}

// Bodies are the accepted messages, in order.
func (f *Discord) Bodies() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.posts)
}

// Waits tells, for each accepted message, whether it asked ?wait=true.
func (f *Discord) Waits() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.waits)
}

// Requests counts every request the fake answered, scripted ones included.
func (f *Discord) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *Discord) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if a, ok := f.script.Next(); ok {
		a.Write(w, "application/json")
		return
	}
	switch {
	case r.URL.Path != discordWebhookPath:
		answer(http.StatusNotFound, map[string]any{"code": 10015, "message": "Unknown Webhook"})
		return
	case r.Method != http.MethodPost:
		answer(http.StatusMethodNotAllowed, map[string]any{"code": 0, "message": "405: Method Not Allowed"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	var msg discordMessage
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &msg) != nil {
		answer(http.StatusBadRequest, map[string]any{"code": 50109, "message": "The request body contains invalid JSON."})
		return
	}
	if msg.Content == "" && len(msg.Embeds) == 0 {
		answer(http.StatusBadRequest, map[string]any{"code": 50006, "message": "Cannot send an empty message"})
		return
	}
	if err := msg.check(); err != nil {
		answer(http.StatusBadRequest, map[string]any{"code": 50035, "message": "Invalid Form Body", "errors": err.Error()})
		return
	}
	f.posts = append(f.posts, body)
	wait := r.URL.Query().Get("wait") == "true"
	f.waits = append(f.waits, wait)
	if !wait {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	answer(http.StatusOK, map[string]any{"id": fmt.Sprint(len(f.posts)), "channel_id": "42", "content": msg.Content})
}

type discordMessage struct {
	Content  string `json:"content"`
	Username string `json:"username"`
	Embeds   []struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Fields      []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"fields"`
		Footer *struct {
			Text string `json:"text"`
		} `json:"footer"`
	} `json:"embeds"`
}

// check applies Discord's limits, in characters.
func (m *discordMessage) check() error {
	n := utf8.RuneCountInString
	lower := strings.ToLower(m.Username)
	switch {
	case n(m.Content) > 2000:
		return fmt.Errorf("content: %d > 2000", n(m.Content))
	case n(m.Username) > 80 || strings.Contains(lower, "discord") || strings.Contains(lower, "clyde"):
		return fmt.Errorf("username %q refused", m.Username)
	case len(m.Embeds) > 10:
		return fmt.Errorf("%d embeds > 10", len(m.Embeds))
	}
	total := 0
	for i, e := range m.Embeds {
		if n(e.Title) > 256 || n(e.Description) > 4096 || len(e.Fields) > 25 {
			return fmt.Errorf("embed %d: title %d, description %d, fields %d", i, n(e.Title), n(e.Description), len(e.Fields))
		}
		total += n(e.Title) + n(e.Description)
		for j, f := range e.Fields {
			if n(f.Name) == 0 || n(f.Name) > 256 || n(f.Value) == 0 || n(f.Value) > 1024 {
				return fmt.Errorf("embed %d field %d: name %d, value %d", i, j, n(f.Name), n(f.Value))
			}
			total += n(f.Name) + n(f.Value)
		}
		if e.Footer != nil {
			if n(e.Footer.Text) > 2048 {
				return fmt.Errorf("embed %d footer %d > 2048", i, n(e.Footer.Text))
			}
			total += n(e.Footer.Text)
		}
	}
	if total > 6000 {
		return fmt.Errorf("embeds total %d > 6000", total)
	}
	return nil
}
