package genietest

import (
	"slices"
	"sync"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// Log is what one API of a fake answered: the answers scripted to come
// first, how many requests it answered, those it accepted and why it
// refused the others. It guards itself, so a test reads it while the fake
// serves.
type Log struct {
	mu       sync.Mutex
	script   publishtest.Script
	requests int
	calls    []Call // accepted requests
	rejects  []string
}

// Script queues answers served, in order, before any check.
func (l *Log) Script(a ...publishtest.Answer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.script = append(l.script, a...)
}

// Calls are the accepted requests, in order.
func (l *Log) Calls() []Call {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// Rejects say why the fake refused what it refused.
func (l *Log) Rejects() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.rejects)
}

// Requests counts every request the fake answered, scripted ones included.
func (l *Log) Requests() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.requests
}

// Next counts a request being served and pops the scripted answer it
// gets, if any.
func (l *Log) Next() (publishtest.Answer, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.requests++
	return l.script.Next()
}

// Accept records a request the fake accepted.
func (l *Log) Accept(c Call) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls = append(l.calls, c)
}

// Reject records why the fake refused a request.
func (l *Log) Reject(why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rejects = append(l.rejects, why)
}
