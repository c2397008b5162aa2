package vendorfake

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Answer is a scripted answer a fake serves instead of its own, before it
// checks anything.
type Answer struct {
	Status     int
	RetryAfter string // the Retry-After header, if not empty
	// ContentType is the Content-Type header; when empty, fakes whose vendor
	// always names one (Discord, Rootly) use theirs, the others none.
	ContentType string
	Body        string
}

// script is a queue of Answers; its owner guards it with its mutex.
type script []Answer

// next pops the first Answer, if any.
func (s *script) next() (Answer, bool) {
	if len(*s) == 0 {
		return Answer{}, false
	}
	a := (*s)[0]
	*s = (*s)[1:]
	return a, true
}

// write serves the Answer, with contentType unless the Answer names one.
func (a Answer) write(w http.ResponseWriter, contentType string) {
	if a.RetryAfter != "" {
		w.Header().Set("Retry-After", a.RetryAfter)
	}
	if a.ContentType != "" {
		contentType = a.ContentType
	}
	if contentType != "" {
		w.Header().Set("Content-Type", contentType)
	}
	w.WriteHeader(a.Status)
	_, _ = io.WriteString(w, a.Body)
}

// serve starts h on a loopback port and closes it when the test ends.
func serve(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
