package breaker

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/am-fanout/am-fanout/core"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// refusedDial returns a delivery that dials a loopback port nobody listens
// on, so it fails with a real connection error.
func refusedDial(t *testing.T) func(context.Context) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return func(ctx context.Context) error {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			return c.Close()
		}
		return err
	}
}

// hangingPost returns a delivery that POSTs to a local server which never
// answers, so the delivery ends only through its ctx or client timeout.
// started receives a value once the server holds the request.
func hangingPost(t *testing.T, clientTimeout time.Duration) (deliver func(context.Context) error, started <-chan struct{}) {
	t.Helper()
	ch := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ch <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	client := &http.Client{Timeout: clientTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	t.Cleanup(client.CloseIdleConnections)
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, http.NoBody)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}, ch
}

func returning(err error) func(context.Context) error {
	return func(context.Context) error { return err }
}

func TestExecuteCountsOnlyRetryableFailures(t *testing.T) {
	timeout, _ := hangingPost(t, 10*time.Millisecond)
	tests := []struct {
		name    string
		deliver func(context.Context) error
		fails   bool
		calls   int
		want    State
	}{
		{"HTTP 503 trips after Failures", returning(core.Retryable(503, 0, errors.New("unavailable"))), true, 3, Open},
		{"HTTP 429 never trips: the target is up and throttling", returning(core.Retryable(429, time.Second, errors.New("slow down"))), true, 10, Closed},
		{"connection refused trips after Failures", refusedDial(t), true, 3, Open},
		{"client timeout trips after Failures", timeout, true, 3, Open},
		{"fewer retryable failures than Failures stay closed", returning(core.Retryable(502, 0, errors.New("bad gateway"))), true, 2, Closed},
		{"permanent HTTP 400 never trips", returning(core.Permanent(400, errors.New("bad payload"))), true, 10, Closed},
		{"rendering error never trips", returning(errors.New("template: undefined variable")), true, 10, Closed},
		{"success never trips", returning(nil), false, 10, Closed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New("t1", core.BreakerSettings{Failures: 3, OpenFor: time.Hour}, nil)
			for i := range tt.calls {
				err := execute(b, context.Background(), tt.deliver)
				if tt.fails {
					require.Error(t, err, "call %d: the delivery's error must be returned", i)
				} else {
					require.NoError(t, err, "call %d", i)
				}
				assert.NotErrorIs(t, err, core.ErrCircuitOpen, "call %d: rejected before the breaker should trip", i)
			}
			assert.Equal(t, tt.want, b.State(), "state after %d calls", tt.calls)
		})
	}
}

func TestExecuteReturnsDeliveryErrorUnchanged(t *testing.T) {
	for _, want := range []error{
		core.Retryable(503, 0, errors.New("unavailable")),
		core.Permanent(404, errors.New("no such hook")),
	} {
		b := New("t1", core.BreakerSettings{Failures: 5, OpenFor: time.Hour}, nil)
		got := execute(b, context.Background(), returning(want))
		assert.Same(t, want, got, "Execute must return the delivery's own error")
	}
}

func TestExecuteExcludesCallerCancellation(t *testing.T) {
	deliver, started := hangingPost(t, 0)
	b := New("t1", core.BreakerSettings{Failures: 1, OpenFor: time.Hour}, nil)
	for i := range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			<-started
			cancel()
		}()
		err := execute(b, ctx, deliver)
		cancel()
		require.ErrorIs(t, err, context.Canceled, "call %d: the cancelled delivery's error must be returned", i)
	}
	assert.Equal(t, Closed, b.State(), "cancelled deliveries must not trip the breaker")
	c := b.Counts()
	assert.Equal(t, uint32(3), c.TotalExclusions, "cancelled deliveries must count as exclusions")
	assert.Zero(t, c.TotalFailures, "cancelled deliveries must not count as failures")
}

func TestExecuteCountsCanceledErrorWhenCallerDidNotCancel(t *testing.T) {
	b := New("t1", core.BreakerSettings{Failures: 1, OpenFor: time.Hour}, nil)
	err := execute(b, context.Background(), returning(core.Retryable(0, 0, context.Canceled)))
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, Open, b.State(), "a retryable failure the caller did not cause must count")
}

// trip opens b with retryable failures.
func trip(t *testing.T, b *Breaker, failures int) {
	t.Helper()
	for range failures {
		_ = execute(b, context.Background(), returning(core.Retryable(503, 0, errors.New("unavailable"))))
	}
	require.Equal(t, Open, b.State(), "breaker must be open after %d failures", failures)
}

// passOpenPeriod lets the open period of b, a breaker just tripped, pass
// and checks that b is half-open only after it. It must run in a synctest
// bubble, where sleeping advances the breaker's clock exactly.
func passOpenPeriod(t *testing.T, b *Breaker, openFor time.Duration) {
	t.Helper()
	time.Sleep(openFor / 2)
	require.Equal(t, Open, b.State(), "breaker half-open before its open period passed")
	time.Sleep(openFor)
	require.Equal(t, HalfOpen, b.State(), "breaker not half-open after its open period")
}

func TestOpenBreakerRejectsWithoutDelivering(t *testing.T) {
	b := New("pd-prod", core.BreakerSettings{Failures: 2, OpenFor: time.Hour}, nil)
	trip(t, b, 2)
	called := false
	err := execute(b, context.Background(), func(context.Context) error { called = true; return nil })
	require.ErrorIs(t, err, core.ErrCircuitOpen)
	assert.False(t, called, "an open breaker must not call the delivery")
	assert.Contains(t, err.Error(), "open")
}

func TestHalfOpenOutcome(t *testing.T) {
	tests := []struct {
		name  string
		trial error
		want  State
	}{
		{"successful trial closes", nil, Closed},
		{"permanent failure in trial closes", core.Permanent(400, errors.New("bad payload")), Closed},
		{"retryable failure in trial reopens", core.Retryable(503, 0, errors.New("unavailable")), Open},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := core.BreakerSettings{Failures: 1, OpenFor: 20 * time.Millisecond, HalfOpenRequests: 1}
				b := New("t1", s, nil)
				trip(t, b, 1)
				passOpenPeriod(t, b, s.OpenFor)
				err := execute(b, context.Background(), returning(tt.trial))
				assert.Equal(t, tt.trial, err, "the trial's own error must be returned")
				assert.Equal(t, tt.want, b.State())
			})
		})
	}
}

func TestHalfOpenLimitsTrials(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := core.BreakerSettings{Failures: 1, OpenFor: 20 * time.Millisecond, HalfOpenRequests: 2}
		b := New("t1", s, nil)
		trip(t, b, 1)
		passOpenPeriod(t, b, s.OpenFor)

		release := make(chan struct{})
		started := make(chan struct{}, 2)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range 2 {
			wg.Go(func() {
				errs[i] = execute(b, context.Background(), func(context.Context) error {
					started <- struct{}{}
					<-release
					return nil
				})
			})
		}
		<-started
		<-started

		called := false
		err := execute(b, context.Background(), func(context.Context) error { called = true; return nil })
		require.ErrorIs(t, err, core.ErrCircuitHalfOpen, "a trial beyond HalfOpenRequests must be rejected")
		assert.False(t, called, "a rejected trial must not call the delivery")

		close(release)
		wg.Wait()
		for i, err := range errs {
			assert.NoError(t, err, "trial %d", i)
		}
		assert.Equal(t, Closed, b.State(), "HalfOpenRequests successful trials must close the breaker")
	})
}

type transition struct {
	name     string
	from, to State
}

// recorder collects the state changes a breaker reports.
type recorder struct {
	mu  sync.Mutex
	got []transition
}

func (r *recorder) onChange(name string, from, to State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, transition{name, from, to})
}

func (r *recorder) transitions() []transition {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]transition(nil), r.got...)
}

func TestOnChangeReportsTransitionsWithName(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rec recorder
		s := core.BreakerSettings{Failures: 1, OpenFor: 20 * time.Millisecond}
		b := New("slack-ops", s, rec.onChange)
		trip(t, b, 1)
		passOpenPeriod(t, b, s.OpenFor)
		require.NoError(t, execute(b, context.Background(), returning(nil)))

		assert.Equal(t, []transition{
			{"slack-ops", Closed, Open},
			{"slack-ops", Open, HalfOpen},
			{"slack-ops", HalfOpen, Closed},
		}, rec.transitions())
	})
}

func TestStateValuesAndNames(t *testing.T) {
	tests := []struct {
		state State
		value int
		text  string
	}{
		{Closed, 0, "closed"},
		{HalfOpen, 1, "half-open"},
		{Open, 2, "open"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.value, int(tt.state), "metric value of %s", tt.text)
		assert.Equal(t, tt.text, tt.state.String())
	}
}

// execute runs deliver through Run, classifying its error as an attempt
// does, and hands back the error: the delivery's own, or the breaker's
// rejection.
func execute(b *Breaker, ctx context.Context, deliver func(context.Context) error) error {
	o := b.Run(ctx, func(ctx context.Context) core.Outcome {
		err := deliver(ctx)
		return core.Classify(err, ctx.Err() != nil, 0)
	})
	switch o.SkipReason {
	case core.SkipCircuitOpen:
		return core.ErrCircuitOpen
	case core.SkipCircuitHalfOpen:
		return core.ErrCircuitHalfOpen
	}
	return o.Err
}
