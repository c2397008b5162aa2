package discordtest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// discordWebhookPath is the fake's webhook, id 1234 with its token.
const (
	discordWebhookPrefix = "/api/webhooks/1234/"
	discordWebhookPath   = discordWebhookPrefix + "WEBHOOKSECRET"
)

// Discord's answers to a webhook that is gone or whose token is wrong, and
// to thread parameters that do not fit the channel
// (https://discord.com/developers/docs/topics/opcodes-and-status-codes#json-json-error-codes).
var (
	unknownWebhook      = map[string]any{"code": 10015, "message": "Unknown Webhook"}
	invalidToken        = map[string]any{"code": 50027, "message": "Invalid Webhook Token"}
	forumNeedsThread    = map[string]any{"code": 220001, "message": "Webhooks posted to forum channels must have a thread_name or thread_id"}
	forumNotBothThreads = map[string]any{"code": 220002, "message": "Webhooks posted to forum channels cannot have both a thread_name and thread_id"}
	onlyForumThreads    = map[string]any{"code": 220003, "message": "Webhooks can only create threads in forum channels"}
)

// Discord is a Discord channel webhook as documented
// (https://discord.com/developers/docs/resources/webhook#execute-webhook):
// POST JSON to /api/webhooks/{id}/{token}, content or embeds required,
// every message and embed limit enforced with Discord's error shape
// {"code":…,"message":…}; 200 with the message when ?wait=true, else 204.
// An unknown webhook id, or a deleted webhook, answers 404 "Unknown
// Webhook"; a wrong token 401 "Invalid Webhook Token". The webhook of a
// forum or media channel needs the thread_name body field (a new post) or
// the thread_id query parameter (an existing one), never both; a text
// channel's webhook takes thread_id only.
// Every answer of the webhook carries Discord's rate limit headers; past
// DiscordBucketLimit messages in a DiscordBucketWindow, the webhook
// answers 429 with {"retry_after": seconds, "global": false}.
// Scripted answers are served first, to play rate limits and outages.
type Discord struct {
	srv   *httptest.Server
	forum bool

	mu       sync.Mutex
	now      func() time.Time
	bucket   bucket
	script   publishtest.Script
	deleted  bool
	requests int
	posts    [][]byte
	waits    []bool
	threads  []Thread
}

// Thread is where an accepted message went: the thread_id it was posted
// to, or the thread_name of the post it created; both empty for the
// channel itself.
type Thread struct {
	ID, Name string
}

// NewDiscord starts a Discord fake of a text channel's webhook that stops
// when the test ends.
func NewDiscord(t testing.TB) *Discord {
	return newDiscord(t, false)
}

// NewForumDiscord starts a Discord fake of a forum channel's webhook.
func NewForumDiscord(t testing.TB) *Discord {
	return newDiscord(t, true)
}

func newDiscord(t testing.TB, forum bool) *Discord {
	f := &Discord{forum: forum, now: time.Now, bucket: bucket{limit: DiscordBucketLimit, window: DiscordBucketWindow}}
	f.srv = publishtest.Serve(t, http.HandlerFunc(f.serve))
	return f
}

// The bucket of a Discord webhook as its headers show it: 5 requests per
// 2 seconds
// (https://birdie0.github.io/discord-webhooks-guide/other/rate_limits.html,
// https://github.com/discord/discord-api-docs/issues/367).
const (
	DiscordBucketLimit  = 5
	DiscordBucketWindow = 2 * time.Second
)

// SetRateLimit changes the webhook's bucket to limit messages a window; a
// limit of 0 switches it off (and the rate limit headers with it).
func (f *Discord) SetRateLimit(limit int, window time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bucket = bucket{limit: limit, window: window}
}

// SetClock gives the webhook's bucket a clock, such as a
// publishtest.Clock's Now, in place of the wall clock.
func (f *Discord) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// bucket is a webhook's rate limit: limit requests from the first of a
// window until the window has passed, as Discord's X-RateLimit headers
// describe it (https://discord.com/developers/docs/topics/rate-limits#header-format).
type bucket struct {
	limit  int
	window time.Duration
	start  time.Time
	used   int
}

// take spends one of the bucket's requests at now, reporting whether there
// was one and how long until the bucket resets; it sets the rate limit
// headers on h either way.
func (b *bucket) take(h http.Header, now time.Time) (bool, time.Duration) {
	if b.limit <= 0 {
		return true, 0
	}
	if b.start.IsZero() || !now.Before(b.start.Add(b.window)) {
		b.start, b.used = now, 0
	}
	ok := b.used < b.limit
	if ok {
		b.used++
	}
	reset := b.start.Add(b.window)
	h.Set("X-RateLimit-Limit", strconv.Itoa(b.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(b.limit-b.used))
	h.Set("X-RateLimit-Reset", strconv.FormatFloat(float64(reset.UnixMilli())/1000, 'f', 3, 64))
	h.Set("X-RateLimit-Reset-After", strconv.FormatFloat(reset.Sub(now).Seconds(), 'f', 3, 64))
	h.Set("X-RateLimit-Bucket", bucketID)
	return ok, reset.Sub(now)
}

// bucketID is the X-RateLimit-Bucket of the fake's webhook route.
var bucketID = func() string {
	sum := sha256.Sum256([]byte(discordWebhookPrefix))
	return hex.EncodeToString(sum[:8])
}()

// Delete deletes the webhook: from now on it answers 404 Unknown Webhook.
func (f *Discord) Delete() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = true
}

// Threads tells, for each accepted message, which thread it went to.
func (f *Discord) Threads() []Thread {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.threads)
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
	case f.deleted || !strings.HasPrefix(r.URL.Path, discordWebhookPrefix):
		answer(http.StatusNotFound, unknownWebhook)
		return
	case r.URL.Path != discordWebhookPath:
		answer(http.StatusUnauthorized, invalidToken)
		return
	case r.Method != http.MethodPost:
		answer(http.StatusMethodNotAllowed, map[string]any{"code": 0, "message": "405: Method Not Allowed"})
		return
	}
	if ok, wait := f.bucket.take(w.Header(), f.now()); !ok {
		// Discord's 429: the wait in the body and in Retry-After
		// (https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit).
		publishtest.SetRetryAfter(w.Header(), wait)
		w.Header().Set("X-RateLimit-Scope", "user")
		answer(http.StatusTooManyRequests, map[string]any{"message": "You are being rate limited.", "retry_after": wait.Seconds(), "global": false})
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
	thread := Thread{ID: r.URL.Query().Get("thread_id"), Name: msg.ThreadName}
	if refusal := f.checkThread(thread); refusal != nil {
		answer(http.StatusBadRequest, refusal)
		return
	}
	f.posts = append(f.posts, body)
	f.threads = append(f.threads, thread)
	wait := r.URL.Query().Get("wait") == "true"
	f.waits = append(f.waits, wait)
	if !wait {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	answer(http.StatusOK, map[string]any{"id": fmt.Sprint(len(f.posts)), "channel_id": "42", "content": msg.Content})
}

// checkThread applies the rules of thread_name and thread_id to the
// fake's channel; nil when they hold.
func (f *Discord) checkThread(t Thread) map[string]any {
	switch {
	case f.forum && t.ID == "" && t.Name == "":
		return forumNeedsThread
	case f.forum && t.ID != "" && t.Name != "":
		return forumNotBothThreads
	case !f.forum && t.Name != "":
		return onlyForumThreads
	}
	return nil
}

type discordMessage struct {
	Content    string `json:"content"`
	Username   string `json:"username"`
	ThreadName string `json:"thread_name"`
	Embeds     []struct {
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
	case n(m.ThreadName) > 100:
		// A thread is a channel, whose name has 1 to 100 characters
		// (https://discord.com/developers/docs/resources/channel#channel-object).
		return fmt.Errorf("thread_name: %d > 100", n(m.ThreadName))
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
