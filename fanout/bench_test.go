package fanout

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/breaker"
	"github.com/am-fanout/am-fanout/core"
)

// benchLatency is how long every fake target of BenchmarkFanout takes to
// answer. DESIGN's target for the fan-out's p99 is benchLatency·1.02 + 1ms.
const benchLatency = 10 * time.Millisecond

// BenchmarkFanout measures the wall time of PublishToMultiple to N targets
// that all answer after benchLatency:
//
//   - parallel: MaxConcurrent = N, every delivery in flight at once; this
//     is the case DESIGN's target speaks of.
//   - parallel-default-max10: the default MaxConcurrent of 10, which runs
//     more than ten targets in ⌈N/10⌉ waves.
//   - sequential: MaxConcurrent = 1, the deliveries one after the other.
//   - goroutines-only: the control, the same N fake targets called from
//     one goroutine each without a Dispatcher, showing how late the
//     machine wakes N timers that fire together.
//
// Besides p50 and p99 of the wall time it reports overhead-p99-ms (p99 − L),
// p99/L, and above-slowest-p99-ms: the p99 of the wall time minus the
// slowest delivery of the same fan-out as the target measured it, which is
// the Dispatcher's own cost without the timer's lateness. Run it with a
// fixed count for a stable p99, e.g. -benchtime=200x.
func BenchmarkFanout(b *testing.B) {
	modes := []struct {
		name string
		max  func(n int) int
	}{
		{"parallel", func(n int) int { return n }},
		{"parallel-default-max10", func(int) int { return 0 }},
		{"sequential", func(int) int { return 1 }},
	}
	for _, n := range []int{1, 5, 10, 50, 100} {
		b.Run(fmt.Sprintf("N=%d/goroutines-only", n), func(b *testing.B) { benchGoroutinesOnly(b, n) })
		for _, m := range modes {
			b.Run(fmt.Sprintf("N=%d/%s", n, m.name), func(b *testing.B) {
				benchFanout(b, n, m.max(n))
			})
		}
	}
}

func benchFanout(b *testing.B, n, maxConcurrent int) {
	ts := fakeTargets(n, &fakePublisher{delay: benchLatency})
	d := newTestDispatcher(ts, Dependencies{}, ParallelPublishOptions{MaxConcurrent: maxConcurrent})
	a := testAlert()
	walls := make([]time.Duration, 0, b.N)
	above := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		res, err := d.PublishToMultiple(context.Background(), a, ts)
		wall := time.Since(start)
		if err != nil || res.SuccessCount != n {
			b.Fatalf("fan-out to %d targets: %d succeeded, err %v", n, res.SuccessCount, err)
		}
		walls = append(walls, wall)
		above = append(above, wall-slowest(res))
	}
	p50, p99 := percentile(walls, 50), percentile(walls, 99)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(p99-benchLatency), "overhead-p99-ms")
	b.ReportMetric(float64(p99)/float64(benchLatency), "p99/L")
	b.ReportMetric(ms(percentile(above, 99)), "above-slowest-p99-ms")
}

// benchGoroutinesOnly is the control of BenchmarkFanout: N fake targets
// called at once from one goroutine each, without a Dispatcher, so its p99
// is the best a fan-out can do on this machine.
func benchGoroutinesOnly(b *testing.B, n int) {
	p, a := &fakePublisher{delay: benchLatency}, testAlert()
	walls := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				if err := p.Publish(context.Background(), a); err != nil {
					b.Error(err)
				}
			})
		}
		wg.Wait()
		walls = append(walls, time.Since(start))
	}
	p99 := percentile(walls, 99)
	b.ReportMetric(ms(percentile(walls, 50)), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(ms(p99-benchLatency), "overhead-p99-ms")
	b.ReportMetric(float64(p99)/float64(benchLatency), "p99/L")
}

// BenchmarkFanoutOverhead measures the Dispatcher's own cost: N targets that
// answer at once, MaxConcurrent = N, with and without a breaker in front of
// every target.
func BenchmarkFanoutOverhead(b *testing.B) {
	for _, n := range []int{10, 100} {
		for _, withBreakers := range []bool{false, true} {
			name := fmt.Sprintf("N=%d", n)
			if withBreakers {
				name += "/breakers"
			}
			b.Run(name, func(b *testing.B) {
				ts := fakeTargets(n, &fakePublisher{})
				if withBreakers {
					for _, t := range ts {
						t.Circuit = breaker.New(t.Name, core.BreakerSettings{Failures: 3, OpenFor: time.Hour}, nil)
					}
				}
				d := newTestDispatcher(ts, Dependencies{}, ParallelPublishOptions{
					MaxConcurrent: n, RespectCircuitBreakers: true,
				})
				a := testAlert()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := d.PublishToMultiple(context.Background(), a, ts); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// fakeTargets returns n targets sharing one publisher.
func fakeTargets(n int, p *fakePublisher) []*core.Target {
	ts := make([]*core.Target, n)
	for i := range ts {
		ts[i] = target("t-"+strconv.Itoa(i), p)
	}
	return ts
}

// slowest is the longest delivery of a fan-out as the Dispatcher timed it.
func slowest(r *core.ParallelPublishResult) time.Duration {
	var m time.Duration
	for i := range r.Results {
		m = max(m, r.Results[i].Duration)
	}
	return m
}

// percentile returns the p-th percentile of ds by the nearest-rank method;
// it sorts ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(math.Ceil(p / 100 * float64(len(ds))))
	return ds[min(max(rank, 1), len(ds))-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// The black-hole scenario: ten targets answering after blackHoleLatency,
// except one that never answers and is cut off by its own timeout until
// its breaker opens after blackHoleFailures timeouts.
const (
	blackHoleTargets  = 10
	blackHoleLatency  = 5 * time.Millisecond
	blackHoleTimeout  = 200 * time.Millisecond
	blackHoleFailures = 3
)

// BenchmarkBlackHole measures what one black-holed target among ten costs
// the other nine and the fan-out: first while its breaker is closed (each
// fan-out waits for its timeout), then once the breaker is open. Every
// iteration fans one alert out to ten healthy targets and one alert to the
// set with the black hole, back to back, so that the ratios between the two
// are not skewed by the machine's load at the time.
func BenchmarkBlackHole(b *testing.B) {
	healthy := newBlackHoleFanout(false)
	holed := newBlackHoleFanout(true)
	var before, open, all fanoutSample
	for range blackHoleFailures {
		holed.publish(b, &before, core.ErrorTypeTimeout)
	}
	if st := holed.dead.State(); st != breaker.Open {
		b.Fatalf("after %d timeouts the black hole's breaker is %s, want open", blackHoleFailures, st)
	}
	for b.Loop() {
		healthy.publish(b, &all, "")
		holed.publish(b, &open, core.SkipCircuitOpen)
	}
	allWall, allNine := percentile(all.walls, 99), percentile(all.nine, 99)
	beforeNine := percentile(before.nine, 99)
	openWall, openNine := percentile(open.walls, 99), percentile(open.nine, 99)
	b.ReportMetric(ms(slices.Max(before.walls)), "closed-fanout-max-ms")
	b.ReportMetric(ms(beforeNine), "closed-nine-p99-ms")
	b.ReportMetric(ms(openWall), "open-fanout-p99-ms")
	b.ReportMetric(ms(openNine), "open-nine-p99-ms")
	b.ReportMetric(ms(allWall), "healthy-fanout-p99-ms")
	b.ReportMetric(ms(allNine), "healthy-nine-p99-ms")
	b.ReportMetric(float64(beforeNine)/float64(allNine), "closed/healthy-nine-p99")
	b.ReportMetric(float64(openNine)/float64(allNine), "open/healthy-nine-p99")
	b.ReportMetric(float64(openWall)/float64(allWall), "open/healthy-fanout-p99")
}

// blackHoleFanout is ten targets behind real breakers, the first of them
// black-holed when asked.
type blackHoleFanout struct {
	d    *Dispatcher
	ts   []*core.Target
	dead *breaker.Breaker
}

func newBlackHoleFanout(withBlackHole bool) *blackHoleFanout {
	f := &blackHoleFanout{ts: fakeTargets(blackHoleTargets, &fakePublisher{delay: blackHoleLatency})}
	for _, t := range f.ts {
		t.Timeout = blackHoleTimeout
		t.Circuit = breaker.New(t.Name, core.BreakerSettings{Failures: blackHoleFailures, OpenFor: time.Hour}, nil)
	}
	if withBlackHole {
		f.ts[0].Publisher = &fakePublisher{block: true}
		f.dead = f.ts[0].Circuit.(*breaker.Breaker)
	}
	f.d = newTestDispatcher(f.ts, Dependencies{}, ParallelPublishOptions{
		MaxConcurrent: blackHoleTargets, RespectCircuitBreakers: true,
	})
	return f
}

// publish fans the alert out and records it in s; want is how the first
// target must end (see fanoutSample.add).
func (f *blackHoleFanout) publish(b *testing.B, s *fanoutSample, want string) {
	b.Helper()
	start := time.Now()
	res, err := f.d.PublishToMultiple(context.Background(), testAlert(), f.ts)
	wall := time.Since(start)
	if res == nil {
		b.Fatalf("fan-out returned no result: %v", err)
	}
	s.add(b, res, wall, want)
}

// fanoutSample collects fan-out wall times and the delivery durations of
// targets 1 to 9, the ones that are healthy in both sets.
type fanoutSample struct {
	walls, nine []time.Duration
}

// add records one fan-out, checking that targets 1 to 9 succeeded and that
// the first one ended as want says: "" a success, a skip reason or an
// error type.
func (s *fanoutSample) add(b *testing.B, res *core.ParallelPublishResult, wall time.Duration, want string) {
	b.Helper()
	for i, r := range res.Results {
		if got := outcome(&r); (i == 0 && got != want) || (i > 0 && got != "") {
			b.Fatalf("target %s ended %q, want %q", r.TargetName, got, want)
		}
		if i > 0 {
			s.nine = append(s.nine, r.Duration)
		}
	}
	s.walls = append(s.walls, wall)
}

// outcome names how a delivery ended: "" for success, else its skip reason
// or error type.
func outcome(r *core.TargetPublishResult) string {
	switch {
	case r.Success:
		return ""
	case r.Skipped:
		return r.SkipReason
	}
	return core.ErrorType(r.Error)
}
