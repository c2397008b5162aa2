package publish

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name   string
		header string // "" sends no header
		want   time.Duration
	}{
		{name: "absent", header: "", want: 0},
		{name: "seconds", header: "120", want: 2 * time.Minute},
		{name: "seconds with spaces", header: " 3 ", want: 3 * time.Second},
		{name: "zero seconds", header: "0", want: 0},
		{name: "fractional seconds", header: "1.5", want: 1500 * time.Millisecond},
		{name: "http date ahead", header: now.Add(90 * time.Second).Format(http.TimeFormat), want: 90 * time.Second},
		{name: "http date in the past", header: now.Add(-time.Minute).Format(http.TimeFormat), want: 0},
		{name: "http date now", header: now.Format(http.TimeFormat), want: 0},
		{name: "garbage", header: "soon", want: 0},
		{name: "negative seconds", header: "-5", want: 0},
		{name: "lone dot", header: ".", want: 0},
		{name: "NaN is not seconds", header: "NaN", want: 0},
		{name: "Inf is not seconds", header: "Inf", want: 0},
		{name: "hex is not seconds", header: "0x10", want: 0},
		{name: "huge seconds are capped, not overflowed", header: "99999999999999999999999", want: maxRetryAfter},
		{name: "far date is capped", header: now.Add(1000 * time.Hour).Format(http.TimeFormat), want: maxRetryAfter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.header != "" {
				h.Set("Retry-After", tc.header)
			}
			if got := RetryAfter(h, now); got != tc.want {
				t.Errorf("RetryAfter(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		status        int
		retryAfter    string
		wantOK        bool
		wantRetryable bool
		wantWait      time.Duration
	}{
		{status: 200, wantOK: true},
		{status: 201, wantOK: true},
		{status: 202, wantOK: true},
		{status: 204, wantOK: true},
		{status: 301},
		{status: 400},
		{status: 401},
		{status: 403},
		{status: 404},
		{status: 408, wantRetryable: true},
		{status: 408, retryAfter: "5", wantRetryable: true, wantWait: 5 * time.Second},
		{status: 413},
		{status: 422},
		{status: 429, wantRetryable: true},
		{status: 429, retryAfter: "7", wantRetryable: true, wantWait: 7 * time.Second},
		{status: 500, wantRetryable: true},
		{status: 502, wantRetryable: true},
		{status: 503, retryAfter: "30", wantRetryable: true, wantWait: 30 * time.Second},
		{status: 504, wantRetryable: true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d retry-after %q", tc.status, tc.retryAfter), func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.retryAfter != "" {
				resp.Header.Set("Retry-After", tc.retryAfter)
			}
			err := classify(resp, []byte(`{"error":"nope"}`))
			if tc.wantOK {
				if err != nil {
					t.Fatalf("classify(%d) = %v, want success", tc.status, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("classify(%d) = nil, want a failure", tc.status)
			}
			if got := core.IsRetryable(err); got != tc.wantRetryable {
				t.Errorf("classify(%d): retryable = %v, want %v", tc.status, got, tc.wantRetryable)
			}
			if got := core.StatusCode(err); got != tc.status {
				t.Errorf("classify(%d): status code = %d", tc.status, got)
			}
			if got := core.RetryAfter(err); got != tc.wantWait {
				t.Errorf("classify(%d): RetryAfter = %v, want %v", tc.status, got, tc.wantWait)
			}
			if !strings.Contains(err.Error(), `{"error":"nope"}`) {
				t.Errorf("classify(%d) error %q does not quote the answer", tc.status, err)
			}
		})
	}
}

func TestTruncateRunes(t *testing.T) {
	tests := []struct {
		name    string
		s       string
		n       int
		want    string
		wantCut bool
	}{
		{name: "short stays", s: "abc", n: 5, want: "abc"},
		{name: "exact fit stays", s: "abc", n: 3, want: "abc"},
		{name: "cut ends in Ellipsis", s: "abcdef", n: 4, want: "abc…", wantCut: true},
		{name: "multi-byte counted as one", s: "äöüß", n: 4, want: "äöüß"},
		{name: "multi-byte cut whole", s: "日本語テキスト", n: 3, want: "日本…", wantCut: true},
		{name: "emoji cut whole", s: "🔥🔥🔥🔥", n: 2, want: "🔥…", wantCut: true},
		{name: "limit 1 is the ellipsis", s: "abc", n: 1, want: "…", wantCut: true},
		{name: "limit 0 is empty", s: "abc", n: 0, want: "", wantCut: true},
		{name: "empty stays at limit 0", s: "", n: 0, want: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := TruncateRunes(tc.s, tc.n)
			if got != tc.want || cut != tc.wantCut {
				t.Errorf("TruncateRunes(%q, %d) = %q, %v; want %q, %v", tc.s, tc.n, got, cut, tc.want, tc.wantCut)
			}
			if n := utf8.RuneCountInString(got); n > max(tc.n, 0) {
				t.Errorf("TruncateRunes(%q, %d) has %d characters, over the limit", tc.s, tc.n, n)
			}
			if !utf8.ValidString(got) {
				t.Errorf("TruncateRunes(%q, %d) = %q is not valid UTF-8", tc.s, tc.n, got)
			}
		})
	}
}

func TestTruncateBytes(t *testing.T) {
	tests := []struct {
		name    string
		s       string
		n       int
		want    string
		wantCut bool
	}{
		{name: "short stays", s: "abc", n: 5, want: "abc"},
		{name: "exact fit stays", s: "abcd", n: 4, want: "abcd"},
		{name: "cut ends in Ellipsis", s: "abcdefgh", n: 6, want: "abc…", wantCut: true},
		{name: "two-byte character not split", s: "ääää", n: 6, want: "ä…", wantCut: true},
		{name: "three-byte character not split", s: "日本語", n: 7, want: "日…", wantCut: true},
		{name: "four-byte character not split", s: "🔥🔥", n: 6, want: "…", wantCut: true},
		{name: "room for the ellipsis only", s: "abcdef", n: 3, want: "…", wantCut: true},
		{name: "no room for the ellipsis", s: "abcdef", n: 2, want: "", wantCut: true},
		{name: "limit 1", s: "abc", n: 1, want: "", wantCut: true},
		{name: "limit 0", s: "abc", n: 0, want: "", wantCut: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, cut := TruncateBytes(tc.s, tc.n)
			if got != tc.want || cut != tc.wantCut {
				t.Errorf("TruncateBytes(%q, %d) = %q, %v; want %q, %v", tc.s, tc.n, got, cut, tc.want, tc.wantCut)
			}
			if len(got) > tc.n {
				t.Errorf("TruncateBytes(%q, %d) is %d bytes, over the limit", tc.s, tc.n, len(got))
			}
			if !utf8.ValidString(got) {
				t.Errorf("TruncateBytes(%q, %d) = %q splits a character", tc.s, tc.n, got)
			}
		})
	}
}

// TestTruncateEveryLimit walks every limit over mixed-width text: the
// result is always within the limit, valid UTF-8, and ends in the ellipsis
// exactly when it was cut and the ellipsis fits.
func TestTruncateEveryLimit(t *testing.T) {
	s := "a ä 日 🔥 b"
	for n := 0; n <= len(s)+1; n++ {
		got, cut := TruncateBytes(s, n)
		if len(got) > n || !utf8.ValidString(got) {
			t.Errorf("TruncateBytes(%q, %d) = %q: over the limit or split", s, n, got)
		}
		if cut != (len(s) > n) || (cut && n >= len(Ellipsis)) != strings.HasSuffix(got, Ellipsis) {
			t.Errorf("TruncateBytes(%q, %d) = %q, cut %v: Ellipsis must mark a cut, and only a cut", s, n, got, cut)
		}
		got, cut = TruncateRunes(s, n)
		if utf8.RuneCountInString(got) > n || !utf8.ValidString(got) {
			t.Errorf("TruncateRunes(%q, %d) = %q: over the limit or split", s, n, got)
		}
		if cut != (utf8.RuneCountInString(s) > n) || (cut && n >= 1) != strings.HasSuffix(got, Ellipsis) {
			t.Errorf("TruncateRunes(%q, %d) = %q, cut %v: Ellipsis must mark a cut, and only a cut", s, n, got, cut)
		}
	}
}

func TestRedactURLError(t *testing.T) {
	const secret = "https://hooks.example.com/services/T000/B000/SeCrEtToKeN?key=SeCrEtToKeN"
	tests := []struct {
		name      string
		err       error
		wantCause error
	}{
		{name: "url error", err: &url.Error{Op: "Post", URL: secret, Err: errors.New("connection refused")}},
		{name: "wrapped url error", err: fmt.Errorf("sending: %w", &url.Error{Op: "Post", URL: secret, Err: errors.New("eof")})},
		{name: "deadline stays detectable", err: &url.Error{Op: "Post", URL: secret, Err: context.DeadlineExceeded}, wantCause: context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RedactURLError(tc.err)
			if strings.Contains(got.Error(), "SeCrEtToKeN") {
				t.Errorf("RedactURLError left the secret in %q", got)
			}
			if !strings.Contains(got.Error(), "<redacted>") {
				t.Errorf("RedactURLError(%v) = %q, want the URL replaced by <redacted>", tc.err, got)
			}
			if tc.wantCause != nil && !errors.Is(got, tc.wantCause) {
				t.Errorf("RedactURLError(%v) = %v no longer wraps %v", tc.err, got, tc.wantCause)
			}
		})
	}
	plain := errors.New("not a url error")
	if got := RedactURLError(plain); got != plain {
		t.Errorf("RedactURLError changed an error without a URL: %v", got)
	}
}

func TestAnswerText(t *testing.T) {
	long := strings.Repeat("ü", 4*maxErrorBody)
	tests := []struct {
		name string
		body string
		want func(string) bool
		says string
	}{
		{name: "empty", body: "", want: func(s string) bool { return s == "empty answer" }, says: `"empty answer"`},
		{name: "blank", body: " \n\t", want: func(s string) bool { return s == "empty answer" }, says: `"empty answer"`},
		{name: "one line", body: "bad\r\nrequest\n  here", want: func(s string) bool { return s == "bad request here" }, says: "white space folded to one line"},
		{name: "bounded", body: long, want: func(s string) bool {
			return len(s) <= maxErrorBody && utf8.ValidString(s) && strings.HasSuffix(s, Ellipsis)
		}, says: "at most maxErrorBody bytes, valid UTF-8, marked as cut"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := AnswerText([]byte(tc.body)); !tc.want(got) {
				t.Errorf("AnswerText = %q (%d bytes), want %s", got, len(got), tc.says)
			}
		})
	}
}

func TestSendBoundsTheAnswer(t *testing.T) {
	const bound = 64
	tests := []struct {
		name     string
		answer   int // bytes of the 2xx answer
		whole    bool
		wantLen  int
		wantFail bool
	}{
		{name: "SendWhole returns an answer at the bound whole", answer: bound, whole: true, wantLen: bound},
		{name: "SendWhole fails an answer over the bound", answer: bound + 1, whole: true, wantLen: bound, wantFail: true},
		{name: "Send returns an answer over its default bound cut, without failing", answer: DefaultMaxAnswer + 10, wantLen: DefaultMaxAnswer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusCreated)
				_, _ = w.Write([]byte(strings.Repeat("x", tc.answer)))
			}))
			defer srv.Close()
			req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if tc.whole {
				body, err = SendWhole(srv.Client(), req, nil, bound)
			} else {
				body, err = Send(srv.Client(), req, nil)
			}
			if len(body) != tc.wantLen {
				t.Errorf("answer of %d bytes returned, want %d", len(body), tc.wantLen)
			}
			if !tc.wantFail {
				if err != nil {
					t.Errorf("want success, got %v", err)
				}
				return
			}
			if !errors.Is(err, ErrAnswerTooLarge) || core.IsRetryable(err) || core.StatusCode(err) != http.StatusCreated {
				t.Errorf("want a permanent HTTP 201 failure wrapping ErrAnswerTooLarge, got %v", err)
			}
		})
	}
}

// TestUserAgentOnEveryRequest: the target's client sends its user agent
// with requests made through Send and with any other, which it leaves
// as they were. (http_config's http_headers may not set User-Agent.)
func TestUserAgentOnEveryRequest(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("User-Agent"))
		mu.Unlock()
	}))
	defer srv.Close()
	h, err := NewHTTPTarget("ua", commoncfg.DefaultHTTPClientConfig, nil, Options{UserAgent: "am-fanout/9.9.9"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	req, err := BodyRequest(context.Background(), http.MethodPost, srv.URL, []byte("{}"), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Send(h.Client, req, nil); err != nil {
		t.Fatalf("Send: %v", err)
	}
	other, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	resp, err := h.Client.Do(other)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if other.Header.Get("User-Agent") != "" {
		t.Error("a request sent with the client's Do was changed")
	}

	mu.Lock()
	defer mu.Unlock()
	if want := []string{"am-fanout/9.9.9", "am-fanout/9.9.9"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("User-Agent headers received %q, want %q", got, want)
	}
}

// A request BodyRequest builds names its URL's host in its Host header,
// which the transport takes from the URL, and follows a redirect to
// another host with that host's. The first URL sees the request twice:
// Send takes it from the transport itself, and sends what redirects
// again through the client, which follows it.
func TestBodyRequestHost(t *testing.T) {
	var mu sync.Mutex
	var hosts []string
	record := func(r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hosts = append(hosts, r.Host)
	}
	to := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { record(r) }))
	defer to.Close()
	from := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(r)
		http.Redirect(w, r, to.URL+"/moved", http.StatusTemporaryRedirect)
	}))
	defer from.Close()
	h, err := NewHTTPTarget("host", commoncfg.DefaultHTTPClientConfig, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	req, err := BodyRequest(context.Background(), http.MethodPost, from.URL+"/hook", []byte("{}"), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Send(h.Client, req, nil); err != nil {
		t.Fatalf("Send: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	fromHost, toHost := strings.TrimPrefix(from.URL, "http://"), strings.TrimPrefix(to.URL, "http://")
	want := []string{fromHost, fromHost, toHost}
	if strings.Join(hosts, ",") != strings.Join(want, ",") {
		t.Errorf("Host headers received %q, want %q", hosts, want)
	}
}

// TestSendAsTheClientWould: Send, which takes most requests from the
// client's transport itself, keeps what the client's Do does: a
// redirect is followed with the body, or not at all under
// follow_redirects: false; a user in the URL becomes basic
// authentication; a failure to connect names no URL; every request
// carries its headers.
func TestSendAsTheClientWould(t *testing.T) {
	type seen struct{ path, method, body, auth, ct string }
	var mu sync.Mutex
	var got []seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.URL.Path, r.Method, string(b), r.Header.Get("Authorization"), r.Header.Get("Content-Type")})
		mu.Unlock()
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/hook", http.StatusPermanentRedirect)
		}
	}))
	defer srv.Close()
	send := func(t *testing.T, cfg commoncfg.HTTPClientConfig, rawURL string) ([]seen, error) {
		t.Helper()
		mu.Lock()
		got = nil
		mu.Unlock()
		h, err := NewHTTPTarget("send", cfg, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		req, err := BodyRequest(context.Background(), http.MethodPost, rawURL, []byte(`{"a":1}`), "application/json")
		if err != nil {
			t.Fatal(err)
		}
		_, err = Send(h.Client, req, nil)
		mu.Lock()
		defer mu.Unlock()
		return got, err
	}
	body, ct := `{"a":1}`, "application/json"

	t.Run("a redirect followed with its body", func(t *testing.T) {
		reqs, err := send(t, commoncfg.DefaultHTTPClientConfig, srv.URL+"/moved")
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		last := reqs[len(reqs)-1]
		if want := (seen{"/hook", http.MethodPost, body, "", ct}); last != want {
			t.Errorf("the redirect's request was %+v, want %+v", last, want)
		}
	})
	t.Run("follow_redirects: false", func(t *testing.T) {
		cfg := commoncfg.DefaultHTTPClientConfig
		cfg.FollowRedirects = false
		reqs, err := send(t, cfg, srv.URL+"/moved")
		if core.StatusCode(err) != http.StatusPermanentRedirect || core.IsRetryable(err) {
			t.Errorf("Send = %v, want a permanent failure with the 308", err)
		}
		if len(reqs) != 1 {
			t.Errorf("%d requests, want 1: %+v", len(reqs), reqs)
		}
	})
	t.Run("a user in the URL", func(t *testing.T) {
		u, _ := url.Parse(srv.URL + "/hook")
		u.User = url.UserPassword("am", "fanout")
		reqs, err := send(t, commoncfg.DefaultHTTPClientConfig, u.String())
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if want := "Basic YW06ZmFub3V0"; len(reqs) != 1 || reqs[0].auth != want {
			t.Errorf("requests %+v, want one with Authorization %q", reqs, want)
		}
	})
	t.Run("a plain request, once", func(t *testing.T) {
		reqs, err := send(t, commoncfg.DefaultHTTPClientConfig, srv.URL+"/hook")
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		if want := (seen{"/hook", http.MethodPost, body, "", ct}); len(reqs) != 1 || reqs[0] != want {
			t.Errorf("requests %+v, want one %+v", reqs, want)
		}
	})
	t.Run("no URL in a failure to connect", func(t *testing.T) {
		closed := httptest.NewServer(http.NotFoundHandler())
		closed.Close()
		_, err := send(t, commoncfg.DefaultHTTPClientConfig, closed.URL+"/services/SeCrEtToKeN")
		if core.Classify(err, false, 0).Kind != core.OutcomeRetry {
			t.Fatalf("Send = %v, want a retryable failure", err)
		}
		if strings.Contains(err.Error(), "SeCrEtToKeN") || !strings.Contains(err.Error(), `Post "<redacted>"`) {
			t.Errorf("Send's error %q names the URL, or not as the client's would be redacted", err)
		}
	})
}

// A round tripper that answers without a body, or with nothing at all,
// gets what http.Client.Do would make of it: an empty answer, an error.
func TestSendOddRoundTrippers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		resp    *http.Response
		wantErr bool
	}{
		{name: "no body", resp: &http.Response{StatusCode: http.StatusOK, Header: http.Header{}}},
		{name: "no answer", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) { return tc.resp, nil })}
			req, err := BodyRequest(context.Background(), http.MethodPost, "http://127.0.0.1:1/hook", []byte("{}"), "application/json")
			if err != nil {
				t.Fatal(err)
			}
			body, err := Send(c, req, nil)
			if (err != nil) != tc.wantErr || len(body) != 0 {
				t.Errorf("Send = %q, %v; want an error: %v", body, err, tc.wantErr)
			}
		})
	}
}
