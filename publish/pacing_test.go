package publish

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

func TestWaitPrefersTheBodysRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name        string
		contentType string
		header      string
		body        string
		want        time.Duration
	}{
		{name: "JSON retry_after over the header", contentType: "application/json", header: "2", body: `{"retry_after":1.25,"global":false}`, want: 1250 * time.Millisecond},
		{name: "header when the body has none", contentType: "application/json", header: "3", body: `{"message":"slow down"}`, want: 3 * time.Second},
		{name: "header when the body is not JSON", contentType: "text/plain", header: "4", body: `{"retry_after":9}`, want: 4 * time.Second},
		{name: "header when retry_after is not positive", contentType: "application/json", header: "5", body: `{"retry_after":-1}`, want: 5 * time.Second},
		{name: "header when the JSON is broken", contentType: "application/json", header: "6", body: `{"retry_after":`, want: 6 * time.Second},
		{name: "a huge retry_after is capped", contentType: "application/json", body: `{"retry_after":1e300}`, want: maxRetryAfter},
		{name: "nothing says", contentType: "application/json", body: `{}`, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{"Content-Type": {tc.contentType}}}
			if tc.header != "" {
				resp.Header.Set("Retry-After", tc.header)
			}
			if got := Wait(resp, []byte(tc.body), now); got != tc.want {
				t.Errorf("Wait = %v, want %v", got, tc.want)
			}
		})
	}
}

// paced is a Config of a type that knows its vendor's pace and grouping.
type paced struct{ fakeConfig }

func (paced) DefaultGroupBy() core.GroupBy { return core.GroupByNotification }

func (paced) DefaultRateLimit() core.RateLimit {
	return core.RateLimit{PerSecond: 1, Burst: 2, Scope: Scope("paced", "hook")}
}

// fakeConfig is a Config that knows nothing of pacing.
type fakeConfig struct{}

func (fakeConfig) Validate(string) error { return nil }

func (fakeConfig) NewPublisher(string, Options) (core.Publisher, error) { return nil, nil }

func TestVendorDefaults(t *testing.T) {
	tests := []struct {
		name      string
		c         Config
		wantGroup core.GroupBy
		wantLimit core.RateLimit
	}{
		{name: "a type without defaults groups by alert, unlimited", c: fakeConfig{}, wantGroup: core.GroupByAlert},
		{name: "a type's own defaults", c: paced{}, wantGroup: core.GroupByNotification,
			wantLimit: core.RateLimit{PerSecond: 1, Burst: 2, Scope: Scope("paced", "hook")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DefaultGroupBy(tc.c); got != tc.wantGroup {
				t.Errorf("DefaultGroupBy = %q, want %q", got, tc.wantGroup)
			}
			if got := DefaultRateLimit(tc.c); got != tc.wantLimit {
				t.Errorf("DefaultRateLimit = %+v, want %+v", got, tc.wantLimit)
			}
		})
	}
}

func TestScopeHidesWhatItNames(t *testing.T) {
	const secret = "https://hooks.slack.com/services/T0/B0/SECRET"
	s := Scope("slack", secret)
	if len(s) != 32 || strings.Contains(s, "SECRET") {
		t.Errorf("Scope = %q, want 32 hex digits that do not hold the secret", s)
	}
	if s != Scope("slack", secret) {
		t.Error("Scope is not stable")
	}
	if s == Scope("discord", secret) || Scope("a", "bc") == Scope("ab", "c") {
		t.Error("different parts share a scope")
	}
}
