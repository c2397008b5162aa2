package publishtest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish/discord/discordtest"
	"github.com/am-fanout/am-fanout/publish/msteams/msteamstest"
	"github.com/am-fanout/am-fanout/publish/pagerduty/pagerdutytest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
	"github.com/am-fanout/am-fanout/publish/slack/slacktest"
)

// pacedFake is a vendor fake with a rate limit, started on a test clock.
type pacedFake struct {
	name string
	// start starts the fake on clock and returns a request its vendor
	// accepts, with its limit switched off when unlimited.
	start func(t *testing.T, clock *publishtest.Clock, unlimited bool) call
	// within is how many requests pass at once; after waits as long as
	// the limit asks.
	within int
	after  time.Duration
	// retryAfter is the Retry-After the first refusal holds, "" for a
	// vendor that sends none.
	retryAfter string
	refusal    string // in the body of a refusal
}

var pacedFakes = []pacedFake{
	{
		name: "slacktest.Slack webhook, per webhook URL",
		start: func(t *testing.T, clock *publishtest.Clock, unlimited bool) call {
			f := slacktest.NewSlack(t, "xoxb-1")
			f.SetClock(clock.Now)
			if unlimited {
				f.SetRateLimit(0, 0)
			}
			return call{url: func(*testing.T) string { return f.WebhookURL() }, body: slackSection("hi")}
		},
		within: slacktest.SlackBurst, after: time.Second, retryAfter: "1", refusal: "rate_limited",
	},
	{
		name: "slacktest.Slack chat.postMessage, per channel",
		start: func(t *testing.T, clock *publishtest.Clock, unlimited bool) call {
			f := slacktest.NewSlack(t, "xoxb-1")
			f.SetClock(clock.Now)
			if unlimited {
				f.SetRateLimit(0, 0)
			}
			return call{
				url:    func(*testing.T) string { return f.APIURL() + "chat.postMessage" },
				header: map[string]string{"Authorization": "Bearer xoxb-1", "Content-Type": "application/json; charset=utf-8"},
				body:   `{"channel":"#a","text":"hi"}`,
			}
		},
		within: slacktest.SlackBurst, after: time.Second, retryAfter: "1", refusal: `"error":"ratelimited"`,
	},
	{
		name: "discordtest.Discord, per webhook",
		start: func(t *testing.T, clock *publishtest.Clock, unlimited bool) call {
			f := discordtest.NewDiscord(t)
			f.SetClock(clock.Now)
			if unlimited {
				f.SetRateLimit(0, 0)
			}
			return call{url: func(*testing.T) string { return f.URL() }, body: `{"content":"hi"}`}
		},
		within: discordtest.DiscordBucketLimit, after: discordtest.DiscordBucketWindow, retryAfter: "2", refusal: `"retry_after":2`,
	},
	{
		name: "pagerdutytest.PagerDuty, per routing key",
		start: func(t *testing.T, clock *publishtest.Clock, unlimited bool) call {
			f := pagerdutytest.NewPagerDuty(t)
			f.SetClock(clock.Now)
			if unlimited {
				f.SetRateLimit(0, 0)
			}
			return call{url: func(*testing.T) string { return f.URL() }, body: pdEvent("db down")}
		},
		within: pagerdutytest.PagerDutyEventsPerWindow, after: pagerdutytest.PagerDutyWindow, refusal: "Request Limit Exceeded",
	},
	{
		name: "msteamstest.Teams, per workflow",
		start: func(t *testing.T, clock *publishtest.Clock, unlimited bool) call {
			f := msteamstest.NewTeams(t, "sig")
			f.SetClock(clock.Now)
			if unlimited {
				f.SetRateLimit(0, 0)
			}
			return call{url: func(*testing.T) string { return f.URL() }, body: teamsCard("1.4", "hi")}
		},
		within: msteamstest.TeamsPerSecond, after: 250 * time.Millisecond, retryAfter: "1", refusal: "TooManyRequests",
	},
}

// postFull posts c and returns the answer's status, Retry-After and body.
func postFull(t *testing.T, c call) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url(t), strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Retry-After"), string(body)
}

// TestFakesRefuseWhatTheVendorThrottles: each fake takes a burst within
// its vendor's limit, refuses the next request with 429 (and the wait its
// vendor sends), and takes requests again once the wait is over.
func TestFakesRefuseWhatTheVendorThrottles(t *testing.T) {
	for _, tc := range pacedFakes {
		t.Run(tc.name, func(t *testing.T) {
			clock := publishtest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
			req := tc.start(t, clock, false)
			for i := range tc.within {
				if status, _, body := postFull(t, req); status/100 != 2 {
					t.Fatalf("request %d of %d within the limit: %d %s", i+1, tc.within, status, body)
				}
			}
			status, retryAfter, body := postFull(t, req)
			if status != http.StatusTooManyRequests || retryAfter != tc.retryAfter || !strings.Contains(body, tc.refusal) {
				t.Errorf("past the limit: %d, Retry-After %q, %s; want 429, Retry-After %q, %q", status, retryAfter, body, tc.retryAfter, tc.refusal)
			}
			clock.Advance(tc.after)
			if status, _, body := postFull(t, req); status/100 != 2 {
				t.Errorf("after waiting %v: %d %s, want it accepted", tc.after, status, body)
			}
		})
	}
}

// TestFakesLimitsCanBeSwitchedOff: with its limit off, a fake takes twice
// its vendor's burst at once.
func TestFakesLimitsCanBeSwitchedOff(t *testing.T) {
	for _, tc := range pacedFakes {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.start(t, publishtest.NewClock(time.Unix(0, 0)), true)
			for i := range 2 * tc.within {
				if status, _, body := postFull(t, req); status/100 != 2 {
					t.Fatalf("request %d with the limit off: %d %s", i+1, status, body)
				}
			}
		})
	}
}
