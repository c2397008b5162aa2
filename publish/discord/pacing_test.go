package discord

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/discord/discordtest"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

func TestBucketCheckTellsWhenTheBucketIsEmpty(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		remaining  string
		resetAfter string
		wantUntil  time.Time // zero: not called
	}{
		{name: "empty bucket", remaining: "0", resetAfter: "1.5", wantUntil: now.Add(1500 * time.Millisecond)},
		{name: "requests left", remaining: "2", resetAfter: "1.5"},
		{name: "no headers"},
		{name: "empty without a reset", remaining: "0"},
		{name: "empty with a garbled reset", remaining: "0", resetAfter: "soon"},
		{name: "empty and already reset", remaining: "0", resetAfter: "0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got time.Time
			check := bucketCheck("d", func(target string, until time.Time) {
				if target != "d" {
					t.Errorf("told about target %q, want d", target)
				}
				got = until
			}, func() time.Time { return now })
			resp := &http.Response{StatusCode: 200, Header: http.Header{}}
			if tc.remaining != "" {
				resp.Header.Set("X-RateLimit-Remaining", tc.remaining)
			}
			if tc.resetAfter != "" {
				resp.Header.Set("X-RateLimit-Reset-After", tc.resetAfter)
			}
			if err := check(resp, nil); err != nil {
				t.Errorf("check = %v, want nil: the answer succeeded", err)
			}
			if !got.Equal(tc.wantUntil) {
				t.Errorf("Throttled until %v, want %v", got, tc.wantUntil)
			}
		})
	}
	if err := bucketCheck("d", nil, time.Now)(&http.Response{Header: http.Header{"X-Ratelimit-Remaining": {"0"}}}, nil); err != nil {
		t.Errorf("without Throttled: %v", err)
	}
}

// TestPublishTellsThrottledOnTheLastRequestOfTheBucket: the message that
// empties the fake's bucket succeeds and tells Options.Throttled when the
// next one may go; the ones before do not.
func TestPublishTellsThrottledOnTheLastRequestOfTheBucket(t *testing.T) {
	f := discordtest.NewDiscord(t)
	clock := publishtest.NewClock(time.Now())
	f.SetClock(clock.Now)
	var mu sync.Mutex
	var told []time.Time
	p := newDiscordTest(t, f, nil, publish.Options{Throttled: func(_ string, until time.Time) {
		mu.Lock()
		defer mu.Unlock()
		told = append(told, until)
	}})
	before := time.Now()
	for i := range discordtest.DiscordBucketLimit {
		if err := p.Publish(context.Background(), publishtest.ChatAlert(false)); err != nil {
			t.Fatalf("message %d: %v", i+1, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 {
		t.Fatalf("Throttled was called %d times, want once, for the message that emptied the bucket", len(told))
	}
	if lo, hi := before.Add(discordtest.DiscordBucketWindow), time.Now().Add(discordtest.DiscordBucketWindow); told[0].Before(lo) || told[0].After(hi) {
		t.Errorf("Throttled until %v, want the bucket's reset, %v after the request", told[0], discordtest.DiscordBucketWindow)
	}
}

func TestDiscordScopeIsTheWebhook(t *testing.T) {
	scope := func(url string) string { return (&Config{URL: publish.Secret(url)}).DefaultRateLimit().Scope }
	hook := "https://discord.com/api/webhooks/1/TOKEN"
	if scope(hook) != scope(hook+"?thread_id=42") {
		t.Error("a thread of the webhook has a scope of its own; Discord limits the webhook")
	}
	if scope(hook) == scope("https://discord.com/api/webhooks/2/TOKEN") {
		t.Error("two webhooks share a scope")
	}
}
