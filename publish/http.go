package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
)

// userAgent sends every request with the User-Agent header ua, in place
// of prometheus/common's round tripper, which copies every request to set
// it (about 8 % of am-fanout's CPU per delivery, BENCHMARKS.md). A request
// that already carries ua (send sets it on those it makes) goes through
// as it is; any other is copied first, as a RoundTripper may not change
// its request.
type userAgent struct {
	next http.RoundTripper
	ua   string
	// value is ua as a header value, shared by every request send sets
	// it on: net/http reads header values and never changes them, and
	// Header.Add or Set on a request replaces rather than writes into a
	// slice of one.
	value []string
}

func (u *userAgent) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("User-Agent") == u.ua {
		return u.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", u.ua)
	return u.next.RoundTrip(r)
}

// CloseIdleConnections closes the idle connections of the transport
// underneath, as http.Client.CloseIdleConnections expects.
func (u *userAgent) CloseIdleConnections() {
	if c, ok := u.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// maxErrorBody bounds how much of an error answer is read and quoted.
const maxErrorBody = 1024

// HTTPTarget is what every HTTP publisher holds: the client built from the
// target's http_config, its parsed templates and its logger. Embedded, it
// gives the publisher its Close.
type HTTPTarget struct {
	Client *http.Client
	Tmpl   *TextTemplates
	Log    *slog.Logger
}

// NewHTTPTarget builds the client and parses the templates of target
// name. The logger falls back to discarding for publishers built without
// New, which otherwise defaults it.
func NewHTTPTarget(name string, cfg commoncfg.HTTPClientConfig, t Templates, o Options) (HTTPTarget, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var opts []commoncfg.HTTPClientOption
	if cfg.OAuth2 != nil {
		// Its token requests carry the user agent too.
		opts = append(opts, commoncfg.WithUserAgent(o.UserAgent))
	}
	c, err := commoncfg.NewClientFromConfig(cfg, name, opts...)
	if err != nil {
		return HTTPTarget{}, fmt.Errorf("target %q: http_config: %w", name, err)
	}
	if o.UserAgent != "" {
		c.Transport = &userAgent{next: c.Transport, ua: o.UserAgent, value: []string{o.UserAgent}}
	}
	if o.Transport != nil {
		c.Transport = o.Transport(c.Transport)
	}
	tmpl, err := NewTextTemplates(name, t, o)
	if err != nil {
		return HTTPTarget{}, fmt.Errorf("target %q: %w", name, err)
	}
	return HTTPTarget{Client: c, Tmpl: tmpl, Log: o.Logger}, nil
}

// Close releases the client's idle connections when the target is
// removed or replaced.
func (h *HTTPTarget) Close() error {
	h.Client.CloseIdleConnections()
	return nil
}

// SendRendered sends the one request render builds for a, for publishers
// whose Publish sends exactly what their Render shows. The answer's body
// is returned for publishers that read it.
func (h *HTTPTarget) SendRendered(ctx context.Context, a *core.EnrichedAlert, render func(context.Context, *core.EnrichedAlert) ([]*http.Request, error), check Checker) ([]byte, error) {
	reqs, err := render(ctx, a)
	if err != nil {
		return nil, err
	}
	return Send(h.Client, reqs[0], check)
}

// OneRequest is the result of Render for publishers that send a single
// request.
func OneRequest(req *http.Request, err error) ([]*http.Request, error) {
	if err != nil {
		return nil, err
	}
	return []*http.Request{req}, nil
}

// JSONRequest builds a POST (or other method) request with a JSON body.
// Errors never include the URL, which may hold a secret.
func JSONRequest(ctx context.Context, method, rawURL string, body any, contentType string) (*http.Request, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encoding body: %w", err)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	return BodyRequest(ctx, method, rawURL, b, contentType)
}

// BodyRequest builds a request with an encoded body, for publishers that
// encode it themselves to fit a size limit. Errors never include the URL.
func BodyRequest(ctx context.Context, method, rawURL string, body []byte, contentType string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, rawURL, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("building request: invalid URL")
	}
	if req.Host == req.URL.Host {
		// The Host header the URL gives anyway, left to the transport:
		// http.Client copies the URL of every request whose Host is set.
		req.Host = ""
	}
	if contentType == jsonType[0] {
		// Shared, as userAgent's value is.
		req.Header["Content-Type"] = jsonType
	} else {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// jsonType is the Content-Type header of most requests.
var jsonType = []string{"application/json"}

// Checker inspects a 2xx answer for failures that vendors report in the
// body (Slack's {"ok":false}, Teams' throttling text); nil means success.
type Checker func(resp *http.Response, body []byte) error

// DefaultMaxAnswer is how much of an answer Send reads; the rest is left
// unread.
const DefaultMaxAnswer = 1 << 20

// ErrAnswerTooLarge is the cause of SendWhole's failure for a 2xx answer
// longer than the bound its caller set.
var ErrAnswerTooLarge = errors.New("answer too large")

// Send sends req with c and classifies the answer: nil for a 2xx that
// check accepts, core.Retryable for 408, 429, 5xx and network errors,
// core.Permanent for other statuses. At most DefaultMaxAnswer bytes of the
// answer are returned, for publishers that need it (Slack's message ts).
func Send(c *http.Client, req *http.Request, check Checker) ([]byte, error) {
	return send(c, req, check, DefaultMaxAnswer, false)
}

// SendWhole is Send for a caller that needs the whole answer (an id in a
// vendor's echo of what was created): it reads up to maxAnswer bytes and
// fails a 2xx answer that is longer with core.Permanent wrapping
// ErrAnswerTooLarge, since the vendor has acted and a retry would act
// again.
func SendWhole(c *http.Client, req *http.Request, check Checker, maxAnswer int64) ([]byte, error) {
	return send(c, req, check, maxAnswer, true)
}

func send(c *http.Client, req *http.Request, check Checker, maxAnswer int64, whole bool) ([]byte, error) {
	if u, ok := c.Transport.(*userAgent); ok && req.Header.Get("User-Agent") == "" {
		// The request is the caller's until it is sent: set here, the
		// header spares userAgent a copy of the request.
		req.Header["User-Agent"] = u.value
	}
	resp, err := do(c, req)
	if err != nil {
		return nil, RedactURLError(err)
	}
	defer resp.Body.Close()
	var (
		body    []byte
		readErr error
	)
	if resp.ContentLength != 0 {
		// An empty answer, as most webhooks give, is not read: ReadAll
		// would allocate its first buffer for it.
		body, readErr = io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	}
	cut := int64(len(body)) > maxAnswer
	if cut {
		body = body[:maxAnswer]
	}
	if err := classify(resp, body); err != nil {
		return body, err
	}
	if readErr != nil {
		return body, core.Retryable(resp.StatusCode, 0, fmt.Errorf("reading answer: %w", RedactURLError(readErr)))
	}
	if cut && whole {
		return body, core.Permanent(resp.StatusCode, fmt.Errorf("%w: over %d bytes", ErrAnswerTooLarge, maxAnswer))
	}
	if check != nil {
		return body, check(resp, body)
	}
	return body, nil
}

// do sends req as c.Do would. c.Do copies every request's headers before
// sending it, for the redirects it may follow (2 % of am-fanout's CPU per
// delivery, BENCHMARKS.md); a client that follows redirects by Go's
// default policy and has no cookie jar, timeout or user in the URL to
// apply gets the request from its transport directly instead, and only
// an answer that redirects is sent again through c.Do, which follows it:
// the first URL sees such a request twice, as a redirect means it did
// not act on it. Errors are c.Do's, the URL's place redacted.
func do(c *http.Client, req *http.Request) (*http.Response, error) {
	if c.Transport == nil || c.CheckRedirect != nil || c.Jar != nil || c.Timeout > 0 ||
		req.URL.User != nil || req.Body != nil && req.GetBody == nil {
		return c.Do(req)
	}
	resp, err := c.Transport.RoundTrip(req)
	switch {
	case err != nil:
		return nil, redactedError(req, err)
	case resp == nil:
		return nil, redactedError(req, fmt.Errorf("the round tripper (%T) returned neither an answer nor an error", c.Transport))
	case resp.Body == nil:
		// As c.Do does for round trippers that mean an empty body so.
		resp.Body = http.NoBody
	}
	if !redirects(resp) {
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, redactedError(req, err)
		}
	}
	return c.Do(again)
}

// redirects reports whether c.Do would follow resp (a status that
// redirects, with a Location to go to).
func redirects(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return resp.Header.Get("Location") != ""
	}
	return false
}

// redactedError is err as c.Do would return it for req ("Post" and the
// URL), the URL redacted as RedactURLError does.
func redactedError(req *http.Request, err error) error {
	op := "Get"
	if req.Method != "" {
		op = req.Method[:1] + strings.ToLower(req.Method[1:])
	}
	return &url.Error{Op: op, URL: "<redacted>", Err: err}
}

// classify turns a status code into an outcome.
func classify(resp *http.Response, body []byte) error {
	code := resp.StatusCode
	if code/100 == 2 {
		return nil
	}
	err := fmt.Errorf("%s", AnswerText(body))
	if RetryableStatus(code) {
		return core.Retryable(code, Wait(resp, body, time.Now()), err)
	}
	return core.Permanent(code, err)
}

// Wait is how long a refused answer asks the sender to wait: the
// retry_after, in seconds, of a JSON body (Discord's 429, more precise
// than its header: https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit),
// else the Retry-After header; 0 when neither says, at most maxRetryAfter.
func Wait(resp *http.Response, body []byte, now time.Time) time.Duration {
	if d := bodyRetryAfter(resp, body); d > 0 {
		return d
	}
	return RetryAfter(resp.Header, now)
}

// bodyRetryAfter reads {"retry_after": seconds} from a JSON answer; 0 when
// the answer is not JSON or has no positive, finite retry_after.
func bodyRetryAfter(resp *http.Response, body []byte) time.Duration {
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return 0
	}
	var ans struct {
		RetryAfter float64 `json:"retry_after"`
	}
	if json.Unmarshal(body, &ans) != nil || !(ans.RetryAfter > 0) {
		return 0
	}
	return SecondsWait(ans.RetryAfter)
}

// SecondsWait turns a vendor's wait in seconds into a Duration, at most
// maxRetryAfter; 0 for a negative or non-finite number.
func SecondsWait(secs float64) time.Duration {
	switch {
	case !(secs > 0):
		return 0
	case secs > maxRetryAfter.Seconds():
		return maxRetryAfter
	}
	return time.Duration(secs * float64(time.Second))
}

// RetryableStatus reports whether a failed request answered with code may
// pass if sent again: 408 (the server gave up waiting for the request; the
// client may repeat it, https://www.rfc-editor.org/rfc/rfc9110#section-15.5.9),
// 429 and 5xx. Every other status fails the same way until someone acts.
func RetryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code/100 == 5
}

// AnswerText quotes at most maxErrorBody bytes of an answer, on one line.
func AnswerText(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return "empty answer"
	}
	s, _ = TruncateBytes(s, maxErrorBody)
	return s
}

// maxRetryAfter bounds the wait a target can ask for, so that an absurd
// header cannot overflow a Duration.
const maxRetryAfter = 24 * time.Hour

// RetryAfter parses a Retry-After header, in seconds (fractions accepted)
// or as an HTTP date; 0 when absent or unparsable, at most maxRetryAfter.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	// Only plain decimals are seconds: ParseFloat alone would also take
	// "NaN", "Inf" and hex, which convert to nonsense durations.
	if strings.Trim(v, "0123456789.") == "" {
		secs, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0
		}
		return SecondsWait(secs)
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}

// RedactURLError strips the URL from the client's errors: webhook URLs of
// Slack, Teams and Discord are secrets.
func RedactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: "<redacted>", Err: ue.Err}
	}
	return err
}

// Ellipsis marks visibly where text was cut.
const Ellipsis = "…"

// TruncateRunes shortens s to at most n characters, ending with "…" when
// cut, and reports whether it was cut.
func TruncateRunes(s string, n int) (string, bool) {
	if utf8.RuneCountInString(s) <= n {
		return s, false
	}
	if n <= 0 {
		return "", true
	}
	r := []rune(s)
	return string(r[:n-1]) + Ellipsis, true
}

// TruncateBytes shortens s to at most n bytes without splitting a
// character, ending with "…" when cut, and reports whether it was cut.
func TruncateBytes(s string, n int) (string, bool) {
	if len(s) <= n {
		return s, false
	}
	cut := n - len(Ellipsis)
	if cut < 0 {
		return "", true
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + Ellipsis, true
}
