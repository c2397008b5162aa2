package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish/slack/slacktest"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

const (
	slackTestHookPath = "/services/T000/B000/HOOKSECRET"
	slackTestToken    = "xoxb-1-2-TOKENSECRET"
)

func newSlackWebhookTest(t *testing.T, f *slacktest.Slack, log *slog.Logger) *slack {
	t.Helper()
	spec := &Config{URL: publish.Secret(f.URL() + slackTestHookPath), HTTPConfig: commoncfg.DefaultHTTPClientConfig}
	p, err := newSlack("slack-test", spec, publish.Options{Logger: log, UserAgent: "am-fanout/test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func newSlackBotTest(t *testing.T, f *slacktest.Slack, st *publishtest.State, update bool, log *slog.Logger) *slack {
	t.Helper()
	return newSlackBotTestWith(t, f, st, log, func(c *Config) { c.UpdateOriginal = update })
}

// newSlackBotTestWith builds a bot-mode publisher whose config set
// changes first.
func newSlackBotTestWith(t *testing.T, f *slacktest.Slack, st *publishtest.State, log *slog.Logger, set func(*Config)) *slack {
	t.Helper()
	spec := &Config{
		Token: slackTestToken, Channel: "#alerts", APIURL: f.APIURL(),
		ThreadTTL: model.Duration(time.Hour), HTTPConfig: commoncfg.DefaultHTTPClientConfig,
	}
	set(spec)
	p, err := newSlack("slack-bot", spec, publish.Options{
		Logger: log, UserAgent: "am-fanout/test", State: func(string) publish.State { return st },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestSlackWebhookPostsBlockKitMessages(t *testing.T) {
	tests := []struct {
		name   string
		alert  *core.EnrichedAlert
		golden string
	}{
		{name: "firing", alert: publishtest.ChatAlert(false), golden: "firing.json"},
		{name: "resolved", alert: publishtest.ChatAlert(true), golden: "resolved.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := slacktest.NewSlack(t, "")
			p := newSlackWebhookTest(t, f, nil)
			if err := p.Publish(context.Background(), tc.alert); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			calls := f.Calls()
			if len(calls) != 1 || calls[0].Path != slackTestHookPath {
				t.Fatalf("fake accepted %d posts, want 1 to the webhook", len(calls))
			}
			publishtest.AssertGolden(t, tc.golden, calls[0].Body)
		})
	}
}

func TestSlackTruncatesOversizedAlertVisibly(t *testing.T) {
	tests := []struct {
		name string
		new  func(t *testing.T, f *slacktest.Slack) *slack
	}{
		{name: "incoming webhook", new: func(t *testing.T, f *slacktest.Slack) *slack { return newSlackWebhookTest(t, f, nil) }},
		{name: "bot", new: func(t *testing.T, f *slacktest.Slack) *slack {
			return newSlackBotTest(t, f, publishtest.NewState(), false, nil)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := slacktest.NewSlack(t, slackTestToken)
			p := tc.new(t, f)
			if err := p.Publish(context.Background(), publishtest.OversizedAlert()); err != nil {
				t.Fatalf("Publish of an oversized alert: %v (the fake enforces Slack's limits, msg_blocks_too_long included)", err)
			}
			var msg slackMessage
			if err := json.Unmarshal(f.Calls()[0].Body, &msg); err != nil {
				t.Fatal(err)
			}
			blocks := msg.Attachments[0].Blocks
			for _, got := range []struct{ what, text string }{
				{"header", blocks[0].Text.Text}, {"section", blocks[1].Text.Text},
				{"a long label field", blocks[2].Fields[4].Text}, {"text fallback", msg.Text},
			} {
				if !strings.HasSuffix(got.text, "…") {
					t.Errorf("%s was not cut visibly: ends %q", got.what, publishtest.Tail(got.text))
				}
			}
			if n := len([]rune(msg.Text)); n > slackFallbackMax {
				t.Errorf("text fallback has %d characters, want ≤ %d", n, slackFallbackMax)
			}
			if n := slackBlocksTextOf(blocks); n > slackBlocksTextBudget {
				t.Errorf("blocks hold %d characters of text, want ≤ %d", n, slackBlocksTextBudget)
			}
			fields := blocks[2].Fields
			if last := fields[len(fields)-1].Text; !strings.Contains(last, "more labels") {
				t.Errorf("last field = %q, want a count of the labels left out", last)
			}
			if strings.Contains(string(f.Calls()[0].Body), strings.Repeat("p", 4000)) {
				t.Error("a link too long for a button was sent")
			}
		})
	}
}

func TestSlackFieldsShareTheBlocksBudget(t *testing.T) {
	labels := func(n, size int) map[string]string {
		l := map[string]string{}
		for i := range n {
			l[fmt.Sprintf("l%02d", i)] = strings.Repeat("v", size)
		}
		return l
	}
	tests := []struct {
		name      string
		labels    map[string]string
		budget    int
		wantShown int // fields showing a label, the count of the others aside
		wantMore  bool
	}{
		{name: "short labels all fit", labels: labels(5, 10), budget: 1000, wantShown: 5},
		{name: "long labels share the budget", labels: labels(5, 3000), budget: 1000, wantShown: 5},
		{name: "past ten the last field counts the rest", labels: labels(12, 10), budget: 9000, wantShown: 9, wantMore: true},
		{name: "a tight budget drops fields rather than shrink them unreadably", labels: labels(9, 3000), budget: 100, wantShown: 3, wantMore: true},
		{name: "no budget at all leaves only the count", labels: labels(3, 3000), budget: 30, wantShown: 0, wantMore: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fields := slackFields(tc.labels, tc.budget)
			total, shown, more := 0, 0, false
			for _, f := range fields {
				total += runes(f.Text)
				if strings.Contains(f.Text, "more labels") {
					more = true
				} else {
					shown++
				}
			}
			if total > tc.budget || shown != tc.wantShown || more != tc.wantMore {
				t.Errorf("%d characters in %d fields showing a label (count of the rest: %v), want ≤ %d in %d (%v)",
					total, shown, more, tc.budget, tc.wantShown, tc.wantMore)
			}
		})
	}
}

func TestSlackWebhookOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		answer     publishtest.Answer
		retryable  bool
		retryAfter time.Duration
		says       string
	}{
		{name: "invalid_payload is permanent", answer: publishtest.Answer{Status: 400, Body: "invalid_payload"}, says: "invalid_payload"},
		{name: "action_prohibited is permanent", answer: publishtest.Answer{Status: 403, Body: "action_prohibited"}, says: "action_prohibited"},
		{name: "channel_not_found is permanent", answer: publishtest.Answer{Status: 404, Body: "channel_not_found"}, says: "channel_not_found"},
		{name: "channel_is_archived is permanent", answer: publishtest.Answer{Status: 410, Body: "channel_is_archived"}, says: "channel_is_archived"},
		{name: "rollup_error is retryable", answer: publishtest.Answer{Status: 500, Body: "rollup_error"}, retryable: true, says: "rollup_error"},
		{name: "429 is retryable after Retry-After", answer: publishtest.Answer{Status: 429, Body: "rate_limited", RetryAfter: "7"}, retryable: true, retryAfter: 7 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := slacktest.NewSlack(t, "")
			log, logs := publishtest.DebugLogger()
			p := newSlackWebhookTest(t, f, log)
			f.Script(tc.answer)
			err := p.Publish(context.Background(), publishtest.ChatAlert(false))
			publishtest.AssertDeliveryError(t, err, tc.answer.Status, tc.retryable, tc.retryAfter, tc.says)
			assertNoSlackSecret(t, err, logs)
			if err := p.Publish(context.Background(), publishtest.ChatAlert(false)); err != nil {
				t.Errorf("second Publish, once Slack recovered: %v", err)
			}
		})
	}
}

func assertNoSlackSecret(t *testing.T, err error, logs *bytes.Buffer) {
	t.Helper()
	for _, secret := range []string{"HOOKSECRET", "TOKENSECRET"} {
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("error reveals a secret: %v", err)
		}
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs reveal a secret:\n%s", logs)
		}
	}
}

func TestSlackWebhookNetworkErrorHidesURL(t *testing.T) {
	f := slacktest.NewSlack(t, "")
	log, logs := publishtest.DebugLogger()
	p := newSlackWebhookTest(t, f, log)
	f.Close()
	err := p.Publish(context.Background(), publishtest.ChatAlert(false))
	if err == nil || !core.IsRetryable(err) {
		t.Fatalf("Publish to a closed server: %v, want a retryable error", err)
	}
	assertNoSlackSecret(t, err, logs)
}

func TestSlackBotThreadsResolutionAcrossRestart(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	st := publishtest.NewState()
	log, logs := publishtest.DebugLogger()
	first := newSlackBotTest(t, f, st, true, log)
	if err := first.Publish(context.Background(), publishtest.ChatAlert(false)); err != nil {
		t.Fatalf("firing: %v", err)
	}
	if got := st.TTLOf(publish.FiringKey(publishtest.ChatAlert(false))); got != time.Hour {
		t.Errorf("firing message kept for %v, want the thread_ttl of 1h", got)
	}
	// A new publisher over the same state is what a restart leaves.
	second := newSlackBotTest(t, f, st, true, log)
	if err := second.Publish(context.Background(), publishtest.ChatAlert(true)); err != nil {
		t.Fatalf("resolved: %v", err)
	}
	calls := f.Calls()
	if len(calls) != 3 {
		t.Fatalf("fake accepted %d calls, want post, threaded post, update", len(calls))
	}
	want := []struct{ path, channel, threadTS, ts, golden string }{
		{"/api/chat.postMessage", "#alerts", "", "", "bot-firing.json"},
		{"/api/chat.postMessage", "CALERTS", "1700000000.000001", "", "bot-resolved.json"},
		{"/api/chat.update", "CALERTS", "", "1700000000.000001", "bot-update.json"},
	}
	for i, w := range want {
		c := calls[i]
		if c.Path != w.path || c.Msg["channel"] != w.channel || str(c.Msg["thread_ts"]) != w.threadTS || str(c.Msg["ts"]) != w.ts {
			t.Errorf("call %d: %s channel=%v thread_ts=%v ts=%v, want %s channel=%s thread_ts=%q ts=%q",
				i, c.Path, c.Msg["channel"], c.Msg["thread_ts"], c.Msg["ts"], w.path, w.channel, w.threadTS, w.ts)
		}
		publishtest.AssertGolden(t, w.golden, c.Body)
	}
	assertNoSlackSecret(t, nil, logs)
}

func str(v any) string { s, _ := v.(string); return s }

func TestSlackBotRenderMatchesPublish(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	p := newSlackBotTest(t, f, publishtest.NewState(), true, nil)
	reqs, err := p.Render(context.Background(), publishtest.ChatAlert(true))
	if err != nil || len(reqs) != 1 {
		t.Fatalf("Render of an unknown resolution: %d requests, %v; want one unthreaded post", len(reqs), err)
	}
	if err := p.Publish(context.Background(), publishtest.ChatAlert(false)); err != nil {
		t.Fatal(err)
	}
	reqs, err = p.Render(context.Background(), publishtest.ChatAlert(true))
	if err != nil || len(reqs) != 2 {
		t.Fatalf("Render of a known resolution: %d requests, %v; want a threaded post and an update", len(reqs), err)
	}
	for i, path := range []string{"/api/chat.postMessage", "/api/chat.update"} {
		r := reqs[i]
		if r.URL.Path != path || r.Header.Get("Authorization") != "Bearer "+slackTestToken ||
			r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Errorf("request %d: %s %s auth set %v type %q", i, r.Method, r.URL.Path, r.Header.Get("Authorization") != "", r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), `"1700000000.000001"`) {
			t.Errorf("request %d does not refer to the firing message: %s", i, body)
		}
	}
	if len(f.Calls()) != 1 {
		t.Errorf("Render sent requests: the fake saw %d calls, want only the firing post", len(f.Calls()))
	}
}

func TestSlackBotOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		answer     publishtest.Answer
		status     int
		retryable  bool
		retryAfter time.Duration
		says       string
	}{
		{name: "ok false is permanent", answer: publishtest.Answer{Status: 200, Body: `{"ok":false,"error":"channel_not_found"}`}, status: 200, says: "channel_not_found"},
		{name: "ok false ratelimited is retryable", answer: publishtest.Answer{Status: 200, Body: `{"ok":false,"error":"ratelimited"}`}, status: 200, retryable: true, says: "ratelimited"},
		{name: "ok false internal_error is retryable", answer: publishtest.Answer{Status: 200, Body: `{"ok":false,"error":"internal_error"}`}, status: 200, retryable: true, says: "internal_error"},
		{name: "an answer that is not JSON is permanent", answer: publishtest.Answer{Status: 200, Body: "ok"}, status: 200, says: "not Slack Web API JSON"},
		{name: "429 is retryable after Retry-After", answer: publishtest.Answer{Status: 429, Body: `{"ok":false,"error":"ratelimited"}`, RetryAfter: "30"}, status: 429, retryable: true, retryAfter: 30 * time.Second, says: "ratelimited"},
		{name: "503 is retryable", answer: publishtest.Answer{Status: 503, Body: "upstream"}, status: 503, retryable: true, says: "upstream"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := slacktest.NewSlack(t, slackTestToken)
			log, logs := publishtest.DebugLogger()
			p := newSlackBotTest(t, f, publishtest.NewState(), false, log)
			f.Script(tc.answer)
			err := p.Publish(context.Background(), publishtest.ChatAlert(false))
			publishtest.AssertDeliveryError(t, err, tc.status, tc.retryable, tc.retryAfter, tc.says)
			assertNoSlackSecret(t, err, logs)
			if err := p.Publish(context.Background(), publishtest.ChatAlert(false)); err != nil {
				t.Errorf("second Publish, once Slack recovered: %v", err)
			}
		})
	}
}

func TestSlackBotFatalErrorIsNotRetriedIntoADuplicate(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	log, logs := publishtest.DebugLogger()
	p := newSlackBotTest(t, f, publishtest.NewState(), false, log)
	f.PostThenFail("fatal_error")
	err := p.Publish(context.Background(), publishtest.ChatAlert(false))
	publishtest.AssertDeliveryError(t, err, 200, false, 0, "fatal_error")
	for _, want := range []string{"may have been posted", "duplicate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q: an operator replaying it must know the risk", err, want)
		}
	}
	if n := len(f.Calls()); n != 1 {
		t.Errorf("Slack holds %d messages, want the one posted before fatal_error", n)
	}
	assertNoSlackSecret(t, err, logs)
}

func TestSlackBotWrongTokenIsPermanentAndHidden(t *testing.T) {
	f := slacktest.NewSlack(t, "xoxb-the-real-one")
	log, logs := publishtest.DebugLogger()
	p := newSlackBotTest(t, f, publishtest.NewState(), false, log)
	err := p.Publish(context.Background(), publishtest.ChatAlert(false))
	publishtest.AssertDeliveryError(t, err, 200, false, 0, "invalid_auth")
	assertNoSlackSecret(t, err, logs)
}

func TestSlackBotStoreFailureIsAClearFailureNotALostThread(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	log, logs := publishtest.DebugLogger()
	p := newSlackBotTest(t, f, &publishtest.State{Err: errors.New("disk full")}, false, log)
	err := p.Publish(context.Background(), publishtest.ChatAlert(false))
	publishtest.AssertDeliveryError(t, err, 200, false, 0, "could not be stored")
	assertPostedNotRetried(t, err)
	if n := len(f.Calls()); n != 1 {
		t.Fatalf("Slack holds %d messages, want the firing posted once", n)
	}
	if err := p.Publish(context.Background(), publishtest.ChatAlert(true)); err != nil {
		t.Fatalf("resolved with an unwritable store: %v", err)
	}
	if got := f.Calls()[1].Msg["thread_ts"]; got != nil {
		t.Errorf("resolution threaded under %v, want a plain post when the thread is unknown", got)
	}
	assertNoSlackSecret(t, err, logs)
}

func TestSlackBotUnreadableThreadPostsOutsideIt(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	st := publishtest.NewState()
	log, logs := publishtest.DebugLogger()
	p := newSlackBotTest(t, f, st, false, log)
	if err := st.Put(context.Background(), publish.FiringKey(publishtest.ChatAlert(true)), []byte("{torn"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(context.Background(), publishtest.ChatAlert(true)); err != nil {
		t.Fatalf("resolved with an unreadable thread entry: %v, want it delivered", err)
	}
	if got := f.Calls()[0].Msg["thread_ts"]; got != nil {
		t.Errorf("resolution threaded under %v, want a plain post when the thread cannot be read", got)
	}
	if !strings.Contains(logs.String(), "cannot read the Slack thread store") {
		t.Errorf("the unreadable entry was not logged:\n%s", logs)
	}
}

func TestSlackBotAnswerWithoutTSIsAClearFailure(t *testing.T) {
	tests := []struct {
		name   string
		answer string
	}{
		{name: "no ts", answer: `{"ok":true,"channel":"CALERTS"}`},
		{name: "empty ts", answer: `{"ok":true,"channel":"CALERTS","ts":""}`},
		{name: "no channel", answer: `{"ok":true,"ts":"1700000000.000001"}`},
		{name: "ts not a string", answer: `{"ok":true,"channel":"CALERTS","ts":1700000000.000001}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := slacktest.NewSlack(t, slackTestToken)
			log, logs := publishtest.DebugLogger()
			p := newSlackBotTest(t, f, publishtest.NewState(), false, log)
			f.Script(publishtest.Answer{Status: 200, ContentType: "application/json; charset=utf-8", Body: tc.answer})
			err := p.Publish(context.Background(), publishtest.ChatAlert(false))
			publishtest.AssertDeliveryError(t, err, 200, false, 0, "no message ts")
			assertPostedNotRetried(t, err)
			assertNoSlackSecret(t, err, logs)
			// A resolution without a firing answers a plain post: it needs no ts.
			if err := p.Publish(context.Background(), publishtest.ChatAlert(true)); err != nil {
				t.Errorf("resolution: %v", err)
			}
		})
	}
}

// assertPostedNotRetried checks that err tells an operator the message is
// in Slack, so replaying it would post it twice.
func assertPostedNotRetried(t *testing.T, err error) {
	t.Helper()
	for _, want := range []string{"was posted", "outside the thread", "duplicate"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestSlackBotReplyBroadcastShowsOnlyTheResolutionInTheChannel(t *testing.T) {
	for _, broadcast := range []bool{false, true} {
		t.Run(fmt.Sprintf("reply_broadcast %v", broadcast), func(t *testing.T) {
			f := slacktest.NewSlack(t, slackTestToken)
			p := newSlackBotTestWith(t, f, publishtest.NewState(), nil, func(c *Config) { c.ReplyBroadcast = broadcast })
			for i, a := range []*core.EnrichedAlert{publishtest.ChatAlert(false), publishtest.ChatAlert(false), publishtest.ChatAlert(true)} {
				if err := p.Publish(context.Background(), a); err != nil {
					t.Fatalf("publish %d: %v", i, err)
				}
			}
			calls := f.Calls()
			want := []bool{false, false, broadcast} // firing, repeat in the thread, resolution in the thread
			for i, c := range calls {
				if got, _ := c.Msg["reply_broadcast"].(bool); got != want[i] {
					t.Errorf("post %d reply_broadcast = %v, want %v", i, c.Msg["reply_broadcast"], want[i])
				}
			}
			if len(calls) != 3 || calls[2].Msg["thread_ts"] == nil {
				t.Fatalf("want the resolution as the third post, in the thread; got %d posts", len(calls))
			}
			if got := f.Broadcasts(); broadcast != (len(got) == 1) {
				t.Errorf("the fake saw %d replies shown in the channel, want %v", len(got), broadcast)
			}
		})
	}
}

func TestSlackBotThreadsRepeatsButNotNewFirings(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	p := newSlackBotTest(t, f, publishtest.NewState(), false, nil)
	later := publishtest.ChatAlert(false)
	later.Alert.StartsAt = later.Alert.StartsAt.Add(time.Hour)
	for i, a := range []*core.EnrichedAlert{publishtest.ChatAlert(false), publishtest.ChatAlert(false), later, publishtest.ChatAlert(true)} {
		if err := p.Publish(context.Background(), a); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	want := []string{"", "1700000000.000001", "", "1700000000.000001"}
	for i, c := range f.Calls() {
		if got := str(c.Msg["thread_ts"]); got != want[i] {
			t.Errorf("post %d thread_ts = %q, want %q (repeats and the resolution thread under their own firing)", i, got, want[i])
		}
	}
}
