package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/am-fanout/am-fanout/publish"
)

// The answers a test send shows: at most shownAnswer bytes of a body,
// read ahead of the publisher up to readAhead bytes.
const (
	shownAnswer = 4 << 10
	readAhead   = 64 << 10
)

// exchangePrinter prints every request a test send's publisher sends and
// the answer it gets, with secrets redacted as render redacts them.
type exchangePrinter struct {
	mu      sync.Mutex
	w       io.Writer
	secrets []string
}

// wrap is the publish.Options.Transport of a test send.
func (p *exchangePrinter) wrap(next http.RoundTripper) http.RoundTripper {
	return printingTransport{p: p, next: next}
}

type printingTransport struct {
	p    *exchangePrinter
	next http.RoundTripper
}

// RoundTrip prints a copy of the request, sends the request itself
// unchanged, and prints the answer while leaving its body whole for the
// publisher.
func (t printingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.p.request(req)
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		t.p.printf("no answer: %s\n\n", redact(publish.RedactURLError(err).Error(), t.p.secrets))
		return nil, err
	}
	head, readErr := io.ReadAll(io.LimitReader(resp.Body, readAhead))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), errReader{readErr}, resp.Body), resp.Body}
	t.p.answer(resp, head)
	return resp, nil
}

// errReader hands the publisher the error reading ahead met, if any.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	return 0, io.EOF
}

func (p *exchangePrinter) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format, args...)
}

// request prints req as render does: the copy's body is read from
// GetBody, so the request sent keeps its own.
func (p *exchangePrinter) request(req *http.Request) {
	dup := req.Clone(req.Context())
	dup.Body = http.NoBody
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			dup.Body = body
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := dumpRequest(p.w, dup, p.secrets); err != nil {
		fmt.Fprintf(p.w, "%s %s (not shown: %s)\n\n", req.Method, redactedPath(req.URL.Path), redact(err.Error(), p.secrets))
	}
}

// answer prints the status line, the headers that say how to go on and
// the start of the body.
func (p *exchangePrinter) answer(resp *http.Response, head []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "answer: %s %s\n", resp.Proto, resp.Status)
	for _, h := range []string{"Content-Type", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			fmt.Fprintf(p.w, "%s: %s\n", h, redact(v, p.secrets))
		}
	}
	body, _ := publish.TruncateBytes(string(head), shownAnswer)
	fmt.Fprintf(p.w, "\n%s\n\n", redact(body, p.secrets))
}

// withURLParts adds to secrets the parts of secret URLs that render hides
// in a request line (token-like path segments, credential query values,
// passwords), since an answer or an error may quote them on their own.
// Parts shorter than minSecretPart are left out: replacing them would
// garble the text without hiding a credential.
const minSecretPart = 8

func withURLParts(secrets []string) []string {
	out := secrets
	for _, sec := range secrets {
		u, err := url.Parse(sec)
		if err != nil || u.Host == "" {
			continue
		}
		if p, ok := u.User.Password(); ok && len(p) >= minSecretPart {
			out = append(out, p)
		}
		for _, seg := range strings.Split(u.Path, "/") {
			if tokenSegment(seg) {
				out = append(out, seg)
			}
		}
		for k, vs := range u.Query() {
			if credentialParam(k) {
				for _, v := range vs {
					if len(v) >= minSecretPart {
						out = append(out, v)
					}
				}
			}
		}
	}
	return out
}
