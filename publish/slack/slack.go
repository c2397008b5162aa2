package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// slack posts alerts to Slack, in one of two modes.
//
// Incoming webhook (https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks):
// POST JSON to the webhook URL; Slack answers 200 with the plain text "ok",
// or a plain-text error code with 400 (invalid_payload, no_text), 403
// (action_prohibited, invalid_token), 404 (channel_not_found, no_service),
// 410 (channel_is_archived), 429 with Retry-After, 500 (rollup_error). The
// answer is never parsed as JSON: the status says it all.
//
// Bot token, Web API chat.postMessage and chat.update
// (https://docs.slack.dev/reference/methods/chat.postMessage,
// https://docs.slack.dev/reference/methods/chat.update): POST JSON with
// "Authorization: Bearer xoxb-…"; Slack answers HTTP 200 with
// {"ok":true,"channel":…,"ts":…} or {"ok":false,"error":…}, and 429 with
// Retry-After. A resolution is posted in the thread of its firing message
// (thread_ts), whose channel and ts are kept in the target's publish.State.
//
// The message is Block Kit (https://docs.slack.dev/reference/block-kit/blocks)
// inside one legacy attachment, the only way to get a colour bar by
// severity: header (title with a severity emoji, ≤150 characters), section
// (summary and description, ≤3000), section fields (key labels, ≤10 of
// ≤2000), context (receiver, group, time) and actions (link buttons, ≤25,
// text ≤75, url ≤3000). That is at most 5 blocks, far from the limit of 50.
// The top-level text, the notification fallback, is kept ≤3000 characters
// although Slack allows 40,000, since it is only a preview.
type slack struct {
	// webhookURL and token are secrets: they never appear in errors or logs.
	webhookURL     string
	token          string
	channel        *slackChannel
	apiURL         string
	updateOriginal bool
	replyBroadcast bool
	publish.HTTPTarget
	// threads holds, per firing, the message its resolution answers in
	// the thread of, for thread_ttl; nil in webhook mode, which cannot
	// thread.
	threads   publish.State
	threadTTL time.Duration
}

// slackMessage is the body of an incoming webhook post, chat.postMessage
// and chat.update.
type slackMessage struct {
	Channel     string            `json:"channel,omitempty"`
	TS          string            `json:"ts,omitempty"`
	ThreadTS    string            `json:"thread_ts,omitempty"`
	Text        string            `json:"text"`
	Attachments []slackAttachment `json:"attachments"`

	// ReplyBroadcast shows a thread reply in the channel too
	// (https://docs.slack.dev/reference/methods/chat.postMessage#arguments).
	ReplyBroadcast bool `json:"reply_broadcast,omitempty"`
}

type slackAttachment struct {
	Color  string       `json:"color"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []any       `json:"elements,omitempty"`
}

type slackText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

type slackButton struct {
	Type     string    `json:"type"`
	Text     slackText `json:"text"`
	URL      string    `json:"url"`
	ActionID string    `json:"action_id"`
}

// slackThread is the firing message a resolution is threaded under.
type slackThread struct {
	// Channel is the channel ID Slack answered with: chat.update needs
	// the ID, and the target's channel may be a name.
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// slackAnswer is the Web API's verdict; chat.postMessage's answer also
// holds the slackThread of the message it posted.
type slackAnswer struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

func newSlack(name string, s *Config, o publish.Options) (*slack, error) {
	h, err := publish.NewHTTPTarget(name, s.HTTPConfig, s.Templates, o)
	if err != nil {
		return nil, err
	}
	p := &slack{
		webhookURL: string(s.URL), token: string(s.Token),
		apiURL: s.APIURL, updateOriginal: s.UpdateOriginal, replyBroadcast: s.ReplyBroadcast,
		HTTPTarget: h, threadTTL: time.Duration(s.ThreadTTL),
	}
	if s.BotMode() {
		if p.threads, err = o.StateOf(name); err != nil {
			return nil, err
		}
		if p.channel, err = newSlackChannel(s.Channel); err != nil {
			return nil, fmt.Errorf("target %q: channel: %w", name, err)
		}
	}
	return p, nil
}

// Publish posts the alert. In bot mode it posts in the thread of the
// alert's firing message when one is known, remembers the message of a
// new firing alert, and with update_original marks the firing message
// resolved. A new firing message whose thread cannot be kept is a
// permanent failure (see errPostedUnthreadable); updating is best effort,
// its failure logged, not returned.
func (s *slack) Publish(ctx context.Context, a *core.EnrichedAlert) error {
	if s.threads == nil {
		req, err := s.webhookRequest(ctx, a)
		if err != nil {
			return err
		}
		_, err = publish.Send(s.Client, req, nil)
		return err
	}
	key := publish.FiringKey(a)
	root, threaded := s.lookupThread(ctx, key)
	req, err := s.postRequest(ctx, a, root, threaded)
	if err != nil {
		return err
	}
	body, err := publish.Send(s.Client, req, checkSlackAnswer)
	if err != nil {
		return err
	}
	if !threaded {
		if a.Alert.Status != core.StatusFiring {
			return nil
		}
		return s.keepThread(ctx, key, body)
	}
	if s.updateOriginal && a.Alert.Status == core.StatusResolved {
		req, err := s.updateRequest(ctx, a, root)
		if err == nil {
			_, err = publish.Send(s.Client, req, checkSlackAnswer)
		}
		if err != nil {
			s.Log.Warn("cannot mark the firing Slack message resolved", "err", err)
		}
	}
	return nil
}

// errPostedUnthreadable ends the failure of a firing message posted whose
// thread cannot be kept. Reporting success would lose the thread without
// a word; retrying would post the message again. So the failure is
// permanent and says both.
const errPostedUnthreadable = "the message was posted, but its resolution will be posted outside the thread; not retried, as a retry would post a duplicate"

// keepThread stores the channel and ts chat.postMessage answered with,
// which the resolution is threaded under.
func (s *slack) keepThread(ctx context.Context, key string, body []byte) error {
	var root slackThread
	if json.Unmarshal(body, &root) != nil || root.Channel == "" || root.TS == "" {
		return core.Permanent(http.StatusOK, fmt.Errorf("slack answered ok with no message ts and channel: %s", errPostedUnthreadable))
	}
	if err := s.rememberThread(ctx, key, root); err != nil {
		return core.Permanent(http.StatusOK, fmt.Errorf("the message's thread could not be stored (%w): %s", err, errPostedUnthreadable))
	}
	return nil
}

// Render builds the requests Publish would send: one post, and in bot
// mode with update_original the chat.update of a known firing message.
func (s *slack) Render(ctx context.Context, a *core.EnrichedAlert) ([]*http.Request, error) {
	if s.threads == nil {
		return publish.OneRequest(s.webhookRequest(ctx, a))
	}
	root, threaded := s.lookupThread(ctx, publish.FiringKey(a))
	req, err := s.postRequest(ctx, a, root, threaded)
	if err != nil {
		return nil, err
	}
	reqs := []*http.Request{req}
	if threaded && s.updateOriginal && a.Alert.Status == core.StatusResolved {
		upd, err := s.updateRequest(ctx, a, root)
		if err != nil {
			return nil, err
		}
		reqs = append(reqs, upd)
	}
	return reqs, nil
}

// lookupThread finds the firing message of the alert; a store that cannot
// be read means a message outside the thread, not a lost notification.
func (s *slack) lookupThread(ctx context.Context, key string) (slackThread, bool) {
	var t slackThread
	v, ok, err := s.threads.Get(ctx, key)
	if err == nil && ok {
		err = json.Unmarshal(v, &t)
	}
	if err != nil {
		s.Log.Warn("cannot read the Slack thread store, posting outside the thread", "err", err)
		return slackThread{}, false
	}
	return t, ok
}

// rememberThread keeps the firing message of key for thread_ttl.
func (s *slack) rememberThread(ctx context.Context, key string, t slackThread) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return s.threads.Put(ctx, key, v, s.threadTTL)
}

func (s *slack) webhookRequest(ctx context.Context, a *core.EnrichedAlert) (*http.Request, error) {
	return publish.JSONRequest(ctx, http.MethodPost, s.webhookURL, s.message(a), "application/json")
}

// postRequest posts to the configured channel, or in the thread of the
// firing message, whose channel is the ID Slack answered with; with
// reply_broadcast, a resolution in the thread shows in the channel too.
func (s *slack) postRequest(ctx context.Context, a *core.EnrichedAlert, root slackThread, threaded bool) (*http.Request, error) {
	msg := s.message(a)
	if threaded {
		msg.Channel, msg.ThreadTS = root.Channel, root.TS
		msg.ReplyBroadcast = s.replyBroadcast && a.Alert.Status == core.StatusResolved
	} else {
		var err error
		if msg.Channel, err = s.channel.forAlert(a); err != nil {
			return nil, err
		}
	}
	return s.apiRequest(ctx, "chat.postMessage", msg)
}

// updateRequest rewrites the firing message as resolved.
func (s *slack) updateRequest(ctx context.Context, a *core.EnrichedAlert, root slackThread) (*http.Request, error) {
	msg := s.message(a)
	msg.Channel, msg.TS = root.Channel, root.TS
	return s.apiRequest(ctx, "chat.update", msg)
}

func (s *slack) apiRequest(ctx context.Context, method string, msg *slackMessage) (*http.Request, error) {
	req, err := publish.JSONRequest(ctx, http.MethodPost, s.apiURL+method, msg, "application/json; charset=utf-8")
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	return req, nil
}

// slackRetryable reports whether a Web API error may pass if tried again;
// every other error fails the same way until someone acts.
func slackRetryable(code string) bool {
	switch code {
	case "ratelimited", "internal_error", "service_unavailable", "request_timeout":
		return true
	}
	return false
}

// slackFatalError is the Web API's "catastrophic error" after which "it's
// possible some aspect of the operation succeeded"
// (https://docs.slack.dev/reference/methods/chat.postMessage#errors): the
// message may be in the channel, and Slack offers no way to tell without
// reading the channel's history, a scope a poster lacks. Retrying could
// post it twice, so the failure is permanent and says so.
const slackFatalError = "fatal_error"

// slackAPIError is an ok:false answer of the Web API.
type slackAPIError struct{ Code string }

func (e *slackAPIError) Error() string { return fmt.Sprintf("slack error %q", e.Code) }

// checkSlackAnswer reads the Web API's verdict from a 200 answer.
func checkSlackAnswer(resp *http.Response, body []byte) error {
	var ans slackAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return core.Permanent(resp.StatusCode, fmt.Errorf("answer is not Slack Web API JSON: %s", publish.AnswerText(body)))
	}
	if ans.OK {
		return nil
	}
	err := &slackAPIError{Code: ans.Error}
	if ans.Error == slackFatalError {
		return core.Permanent(resp.StatusCode, fmt.Errorf("%w: the message may have been posted; not retried, as a retry could post a duplicate (check the channel before replaying)", err))
	}
	if slackRetryable(ans.Error) {
		return core.Retryable(resp.StatusCode, publish.RetryAfter(resp.Header, time.Now()), err)
	}
	return core.Permanent(resp.StatusCode, err)
}
