package fanout

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/prometheus/client_golang/prometheus"
)

func TestRepeatLimiterLetsOneLineThroughPerInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := NewRepeatLimiter(10 * time.Second)
		type step struct {
			after    time.Duration
			key      string
			wantOK   bool
			wantHeld int
		}
		for i, s := range []step{
			{0, "a", true, 0},
			{time.Second, "a", false, 0},
			{time.Second, "a", false, 0},
			{0, "b", true, 0},
			{8 * time.Second, "a", true, 2},
			{time.Second, "a", false, 0},
			{10 * time.Second, "a", true, 1},
		} {
			time.Sleep(s.after)
			ok, held := l.Allow(s.key, time.Now())
			if ok != s.wantOK || held != s.wantHeld {
				t.Errorf("step %d (%s after %v): allow = %v, %d; want %v, %d", i, s.key, s.after, ok, held, s.wantOK, s.wantHeld)
			}
		}
	})
}

// Attempts that succeed log nothing at info; the same target failing for
// many alerts logs once, not once per alert.
func TestAttemptLogVolume(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ok := target("ok", &fakePublisher{})
	bad := target("bad", &fakePublisher{err: core.Retryable(503, time.Second, errors.New("service unavailable"))})
	at := NewAttempter(nil, nil, NewMetrics(prometheus.NewRegistry()), logger)
	for range 50 {
		at.Attempt(context.Background(), ok, testAlert(), nil)
	}
	if buf.Len() != 0 {
		t.Fatalf("successful attempts logged at info:\n%s", buf.String())
	}
	for range 50 {
		at.Attempt(context.Background(), bad, testAlert(), nil)
	}
	if n := strings.Count(buf.String(), "delivery attempt failed"); n != 1 {
		t.Errorf("50 attempts failing at the same target logged %d lines, want 1:\n%s", n, buf.String())
	}
}
