package publishtest

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

// Script is a queue of Answers; its owner guards it with its mutex.
type Script []Answer

// Next pops the first Answer, if any.
func (s *Script) Next() (Answer, bool) {
	if len(*s) == 0 {
		return Answer{}, false
	}
	a := (*s)[0]
	*s = (*s)[1:]
	return a, true
}

// Write serves the Answer, with contentType unless the Answer names one.
func (a Answer) Write(w http.ResponseWriter, contentType string) {
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

// Serve starts h on a loopback port and closes it when the test ends.
func Serve(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
