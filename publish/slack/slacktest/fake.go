package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// SlackWebhookPath is the path of the incoming webhook URL WebhookURL
// gives; any path under /services/ is a webhook to the fake.
const SlackWebhookPath = "/services/T000/B000/HOOKSECRET"

// Slack is Slack as its documentation describes it: incoming webhooks
// under /services/ answer "ok" or a plain-text error with its status; the
// Web API under /api/ answers 200 with {"ok":…} and checks the bearer
// token, the channel, thread_ts and chat.update's ts against the messages
// it issued. Both enforce Block Kit's limits, and Slack's pace: past
// SlackPerSecond posts a second per webhook or per channel (after a burst
// of SlackBurst), a post is refused with 429 and a Retry-After. Scripted
// answers are served first, to play rate limits and outages.
type Slack struct {
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	now      func() time.Time
	pace     publishtest.Buckets
	script   publishtest.Script
	requests int
	posts    []SlackCall // accepted requests, in order
	messages map[string]string
	nextTS   int
	// channels are the channels that exist, by name without "#"; nil
	// lets any well-formed channel exist.
	channels []string
	// postedFail is the error the next accepted post answers with after
	// it was posted, as Slack documents for fatal_error and internal_error.
	postedFail string
}

// SlackCall is a request the Slack fake accepted.
type SlackCall struct {
	Path string
	Body []byte
	Msg  map[string]any // the body, decoded
	// TS is the message a Web API call posted or updated, as the fake
	// answered it; empty for incoming webhooks.
	TS string
}

// NewSlack starts a Slack fake whose Web API accepts the bot token; it
// stops when the test ends.
func NewSlack(t testing.TB, token string) *Slack {
	f := &Slack{token: token, messages: map[string]string{}, now: time.Now,
		pace: publishtest.Buckets{PerSecond: SlackPerSecond, Burst: SlackBurst}}
	f.srv = publishtest.Serve(t, http.HandlerFunc(f.serve))
	return f
}

// URL is the fake's root: webhooks live under /services/, the Web API
// under /api/.
func (f *Slack) URL() string { return f.srv.URL }

// WebhookURL is an incoming webhook URL of the fake.
func (f *Slack) WebhookURL() string { return f.srv.URL + SlackWebhookPath }

// APIURL is the base of the fake's Web API, as a bot-mode target takes it.
func (f *Slack) APIURL() string { return f.srv.URL + "/api/" }

// Close stops the fake, as if Slack were unreachable.
func (f *Slack) Close() { f.srv.Close() }

// Slack's pace for posting, per incoming webhook and per channel: "1 per
// second", "short bursts >1 allowed"
// (https://api.slack.com/docs/rate-limits). Slack does not say how large
// a burst; the fake allows 3.
const (
	SlackPerSecond = 1
	SlackBurst     = 3
)

// SetRateLimit changes the fake's pace; a perSecond of 0 switches it off.
func (f *Slack) SetRateLimit(perSecond float64, burst int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pace.Reset(perSecond, burst)
}

// SetClock gives the fake's pace a clock, such as a publishtest.Clock's
// Now, in place of the wall clock.
func (f *Slack) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// Script queues answers served, in order, before any check.
func (f *Slack) Script(a ...publishtest.Answer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script = append(f.script, a...)
}

// PostThenFail makes the next accepted chat.postMessage post its message
// and answer ok:false with code, as Slack says fatal_error and
// internal_error can: "It's possible some aspect of the operation
// succeeded before the error was raised"
// (https://docs.slack.dev/reference/methods/chat.postMessage#errors).
func (f *Slack) PostThenFail(code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.postedFail = code
}

// Channels makes only these channels exist, named as a target names
// them ("#alerts" or "alerts"): a post to any other answers
// channel_not_found, as Slack does.
func (f *Slack) Channels(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.channels = nil
	for _, n := range names {
		f.channels = append(f.channels, strings.TrimPrefix(n, "#"))
	}
}

// ChannelID is the ID the fake answers for a channel named name.
func ChannelID(name string) string {
	return "C" + strings.ToUpper(nonAlnum.ReplaceAllString(name, ""))
}

var (
	nonAlnum = regexp.MustCompile(`[^a-zA-Z0-9]`)
	// A channel is a name, "lowercase letters, numbers, hyphens, and
	// underscores, and must be 80 characters or less"
	// (https://slack.com/help/articles/201402297), or an ID.
	channelName = regexp.MustCompile(`^#?[a-z0-9_-]{1,80}$`)
	channelID   = regexp.MustCompile(`^[CGDUW][A-Z0-9]+$`)
)

// channelExists reports whether a post to channel reaches a channel.
func (f *Slack) channelExists(channel string) bool {
	switch {
	case channelID.MatchString(channel):
		if f.channels == nil || slices.ContainsFunc(f.channels, func(n string) bool { return ChannelID(n) == channel }) {
			return true
		}
		return slices.Contains(f.channels, channel)
	case channelName.MatchString(channel):
		return f.channels == nil || slices.Contains(f.channels, strings.TrimPrefix(channel, "#"))
	}
	return false
}

// Calls are the accepted requests, in order.
func (f *Slack) Calls() []SlackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.posts)
}

// Broadcasts are the accepted thread replies also shown in the channel:
// reply_broadcast "used in conjunction with thread_ts"
// (https://docs.slack.dev/reference/methods/chat.postMessage#arguments).
func (f *Slack) Broadcasts() []SlackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []SlackCall
	for _, c := range f.posts {
		if c.Msg["thread_ts"] != nil && c.Msg["reply_broadcast"] == true {
			out = append(out, c)
		}
	}
	return out
}

// Requests counts every request the fake answered, scripted ones included.
func (f *Slack) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *Slack) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	if a, ok := f.script.Next(); ok {
		a.Write(w, "")
		return
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case strings.HasPrefix(r.URL.Path, "/services/"):
		f.serveWebhook(w, r, body)
	case r.URL.Path == "/api/chat.postMessage" || r.URL.Path == "/api/chat.update":
		f.serveAPI(w, r, body)
	default:
		http.Error(w, "no_service", http.StatusNotFound)
	}
}

// serveWebhook answers like hooks.slack.com: plain text, never JSON.
func (f *Slack) serveWebhook(w http.ResponseWriter, r *http.Request, body []byte) {
	plain := func(status int, text string) {
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
	}
	if r.Method != http.MethodPost {
		plain(http.StatusMethodNotAllowed, "invalid_method")
		return
	}
	if ok, wait := f.pace.Take(r.URL.Path, f.now()); !ok {
		publishtest.SetRetryAfter(w.Header(), wait)
		plain(http.StatusTooManyRequests, "rate_limited")
		return
	}
	var msg map[string]any
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || json.Unmarshal(body, &msg) != nil {
		plain(http.StatusBadRequest, "invalid_payload")
		return
	}
	if msg["text"] == nil && msg["blocks"] == nil && msg["attachments"] == nil {
		plain(http.StatusBadRequest, "no_text")
		return
	}
	if err := checkSlackBlocks(msg); err != nil {
		plain(http.StatusBadRequest, "invalid_blocks: "+err.Error())
		return
	}
	if slackBlocksText(msg) > SlackBlocksTextMax {
		plain(http.StatusBadRequest, "msg_blocks_too_long")
		return
	}
	f.posts = append(f.posts, SlackCall{Path: r.URL.Path, Body: body, Msg: msg})
	plain(http.StatusOK, "ok")
}

// serveAPI answers like slack.com/api: HTTP 200 whatever the outcome.
func (f *Slack) serveAPI(w http.ResponseWriter, r *http.Request, body []byte) {
	answer := func(v map[string]any) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(code string) { answer(map[string]any{"ok": false, "error": code}) }
	var msg map[string]any
	switch {
	case r.Method != http.MethodPost:
		fail("invalid_request")
	case r.Header.Get("Authorization") == "":
		fail("not_authed")
	case r.Header.Get("Authorization") != "Bearer "+f.token:
		fail("invalid_auth")
	case r.Header.Get("Content-Type") != "application/json; charset=utf-8" || json.Unmarshal(body, &msg) != nil:
		fail("invalid_json")
	case !f.channelExists(str(msg["channel"])):
		fail("channel_not_found")
	case msg["text"] == nil && msg["blocks"] == nil && msg["attachments"] == nil:
		fail("no_text")
	case checkSlackBlocks(msg) != nil:
		fail("invalid_blocks")
	case slackBlocksText(msg) > SlackBlocksTextMax:
		fail("msg_blocks_too_long")
	default:
		if f.paced(w, r.URL.Path, msg) {
			f.serveMethod(r.URL.Path, body, msg, answer, fail)
		}
	}
}

// paced spends a token of the channel's bucket for a chat.postMessage, or
// answers 429 as Slack does, with a Retry-After in seconds
// (https://docs.slack.dev/apis/web-api/rate-limits), and reports false.
func (f *Slack) paced(w http.ResponseWriter, path string, msg map[string]any) bool {
	if path != "/api/chat.postMessage" {
		return true
	}
	channel, _ := msg["channel"].(string)
	ok, wait := f.pace.Take(channel, f.now())
	if !ok {
		publishtest.SetRetryAfter(w.Header(), wait)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusTooManyRequests)
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "ratelimited"})
	}
	return ok
}

func (f *Slack) serveMethod(path string, body []byte, msg map[string]any, answer func(map[string]any), fail func(string)) {
	channel, _ := msg["channel"].(string)
	if path == "/api/chat.update" {
		ts, _ := msg["ts"].(string)
		if on, ok := f.messages[ts]; !ok || on != channel {
			fail("message_not_found")
			return
		}
		f.posts = append(f.posts, SlackCall{Path: path, Body: body, Msg: msg, TS: ts})
		answer(map[string]any{"ok": true, "channel": channel, "ts": ts})
		return
	}
	if b, ok := msg["reply_broadcast"]; ok {
		if _, isBool := b.(bool); !isBool {
			fail("invalid_arguments")
			return
		}
	}
	if thread, ok := msg["thread_ts"].(string); ok {
		if on, issued := f.messages[thread]; !issued || on != channel {
			fail("thread_not_found")
			return
		}
	}
	// Slack answers with the channel's ID even when posted to by name.
	id := channel
	if !channelID.MatchString(channel) {
		id = ChannelID(channel)
	}
	f.nextTS++
	ts := fmt.Sprintf("1700000000.%06d", f.nextTS)
	f.messages[ts] = id
	f.posts = append(f.posts, SlackCall{Path: path, Body: body, Msg: msg, TS: ts})
	if code := f.postedFail; code != "" {
		f.postedFail = ""
		fail(code)
		return
	}
	answer(map[string]any{"ok": true, "channel": id, "ts": ts})
}

// SlackBlocksTextMax is the total text of all blocks of one message past
// which Slack answers msg_blocks_too_long, far below the sum of the
// per-block limits. Slack documents a cumulative 12,000 characters for
// markdown blocks (https://docs.slack.dev/reference/block-kit/blocks/markdown-block)
// and its SDK maintainers name the same total of text characters for any
// blocks (https://github.com/slackapi/bolt-js/issues/2509).
const SlackBlocksTextMax = 12000

// slackBlocksText counts the characters of every text string in the
// message's blocks, top-level and in attachments: header, section text and
// fields, context elements, button labels.
func slackBlocksText(msg map[string]any) int {
	blocks, _ := msg["blocks"].([]any)
	atts, _ := msg["attachments"].([]any)
	for _, a := range atts {
		ab, _ := a.(map[string]any)["blocks"].([]any)
		blocks = append(blocks, ab...)
	}
	var count func(v any) int
	count = func(v any) int {
		n := 0
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				if s, ok := e.(string); ok && k == "text" {
					n += utf8.RuneCountInString(s)
				} else {
					n += count(e)
				}
			}
		case []any:
			for _, e := range v {
				n += count(e)
			}
		}
		return n
	}
	return count(blocks)
}

// checkSlackBlocks enforces Block Kit's limits on the top-level blocks
// and those of every attachment, 50 in all.
func checkSlackBlocks(msg map[string]any) error {
	blocks, _ := msg["blocks"].([]any)
	atts, _ := msg["attachments"].([]any)
	for _, a := range atts {
		ab, _ := a.(map[string]any)["blocks"].([]any)
		blocks = append(blocks, ab...)
	}
	if len(blocks) > 50 {
		return fmt.Errorf("%d blocks", len(blocks))
	}
	if text, _ := msg["text"].(string); utf8.RuneCountInString(text) > 40000 {
		return fmt.Errorf("text of %d characters", utf8.RuneCountInString(text))
	}
	for i, b := range blocks {
		if err := checkSlackBlock(b.(map[string]any)); err != nil {
			return fmt.Errorf("block %d: %w", i, err)
		}
	}
	return nil
}

func checkSlackBlock(b map[string]any) error {
	textOf := func(v any) (typ, text string) {
		m, _ := v.(map[string]any)
		typ, _ = m["type"].(string)
		text, _ = m["text"].(string)
		return typ, text
	}
	within := func(what, text string, max int) error {
		if n := utf8.RuneCountInString(text); n == 0 || n > max {
			return fmt.Errorf("%s has %d characters, want 1..%d", what, n, max)
		}
		return nil
	}
	elements, _ := b["elements"].([]any)
	switch b["type"] {
	case "header":
		typ, text := textOf(b["text"])
		if typ != "plain_text" {
			return fmt.Errorf("header text is %q, want plain_text", typ)
		}
		return within("header", text, 150)
	case "section":
		fields, _ := b["fields"].([]any)
		if b["text"] == nil && len(fields) == 0 {
			return fmt.Errorf("section without text or fields")
		}
		if b["text"] != nil {
			if _, text := textOf(b["text"]); within("section text", text, 3000) != nil {
				return within("section text", text, 3000)
			}
		}
		if len(fields) > 10 {
			return fmt.Errorf("%d fields", len(fields))
		}
		for _, fl := range fields {
			if _, text := textOf(fl); within("field", text, 2000) != nil {
				return within("field", text, 2000)
			}
		}
	case "context":
		if len(elements) == 0 || len(elements) > 10 {
			return fmt.Errorf("context with %d elements", len(elements))
		}
	case "actions":
		if len(elements) == 0 || len(elements) > 25 {
			return fmt.Errorf("actions with %d elements", len(elements))
		}
		for _, e := range elements {
			btn := e.(map[string]any)
			_, text := textOf(btn["text"])
			url, _ := btn["url"].(string)
			if err := within("button text", text, 75); err != nil {
				return err
			}
			if err := within("button url", url, 3000); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("unexpected block type %v", b["type"])
	}
	return nil
}

func str(v any) string { s, _ := v.(string); return s }
