package benchmarks

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
)

// BenchmarkRounds weighs am-fanout (the bbolt store, fsync on,
// its defaults) against the bare forwarder in rounds that alternate
// between them, with both processes started once: in round i each is
// sent the same number of notifications in turn, the forwarder first in
// even rounds and am-fanout first in odd ones, and the round's ratio is
// am-fanout's deliveries/s over the forwarder's. A machine whose speed
// drifts over a run (a shared host's steal time comes and goes over
// seconds) then moves both sides of a ratio alike, where
// BenchmarkEndToEnd's one forwarder case and one am-fanout case, run a
// minute apart, can each meet a different machine. One operation is one
// round: run it with a fixed count, e.g. -benchtime=8x. A first round
// of each, not counted, warms the connections, the store and the heap.
//
// It reports the median, lowest and highest of the rounds' ratios, the
// pooled ratio (each side's deliveries over its time in all rounds),
// each side's pooled deliveries/s and CPU time per delivery (its own
// process's, and the benchmark process's while it ran), and
// am-fanout's refused webhooks.
func BenchmarkRounds(b *testing.B) {
	for _, perWebhook := range []int{1, 10} {
		b.Run(fmt.Sprintf("alerts-per-webhook=%d", perWebhook), func(b *testing.B) {
			benchRounds(b, perWebhook)
		})
	}
}

// roundNotifications is how many notifications each side is sent in a
// round: two seconds or so of one-alert notifications, and with ten
// alerts 50 000 deliveries, more than the outbox holds by default
// (max_pending 30 000), so that its rounds reach the bounds as a storm
// does.
var roundNotifications = map[int]int{1: 2000, 10: 500}

// side is one of the two processes the rounds compare, with its own
// targets.
type side struct {
	name      string
	srv       *server
	fanout    bool
	delivered atomic.Int64
	seq       int
	// The pooled figures of the counted rounds.
	deliveries    int64
	seconds       float64
	cpu, benchCPU float64
	refused       int64
	rates         []float64
	perWebhook    int
}

// run sends the side one round; counted adds the round's figures to its
// pooled ones and its deliveries/s to its rates.
func (s *side) run(b *testing.B, counted bool) {
	client := newClient()
	defer client.CloseIdleConnections()
	cpuBefore, err := s.srv.cpu()
	if err != nil {
		b.Fatal(err)
	}
	selfBefore := selfCPU()
	s.delivered.Store(0)
	n := roundNotifications[s.perWebhook]
	left := n
	l := drive(b, client, s.srv.url, &s.delivered, s.perWebhook, s.fanout, s.seq, func() bool {
		left--
		return left >= 0
	})
	s.seq += n
	cpuAfter, err := s.srv.cpu()
	if err != nil {
		b.Fatal(err)
	}
	if !counted {
		return
	}
	took := l.last.Sub(l.start).Seconds()
	delivered := s.delivered.Load()
	s.deliveries += delivered
	s.seconds += took
	s.cpu += cpuAfter - cpuBefore
	s.benchCPU += selfCPU() - selfBefore
	s.refused += l.refused
	s.rates = append(s.rates, float64(delivered)/took)
}

// benchRounds runs the rounds of notifications of perWebhook alerts.
func benchRounds(b *testing.B, perWebhook int) {
	forwarder := &side{name: "forwarder", perWebhook: perWebhook}
	fanout := &side{name: "am-fanout", fanout: true, perWebhook: perWebhook}
	forwarder.srv = startForwarder(b, startTargets(b, &forwarder.delivered), "")
	fanout.srv = startServer(b, config(startTargets(b, &fanout.delivered), storage(b, "bbolt")), "--log.level=warn")
	forwarder.run(b, false)
	fanout.run(b, false)
	var ratios []float64
	for i := 0; b.Loop(); i++ {
		first, second := forwarder, fanout
		if i%2 == 1 {
			first, second = fanout, forwarder
		}
		first.run(b, true)
		second.run(b, true)
		if b.Failed() {
			return
		}
		ratios = append(ratios, fanout.rates[len(fanout.rates)-1]/forwarder.rates[len(forwarder.rates)-1])
	}
	slices.Sort(ratios)
	b.ReportMetric(median(ratios), "ratio-median")
	b.ReportMetric(ratios[0], "ratio-min")
	b.ReportMetric(ratios[len(ratios)-1], "ratio-max")
	pooled := func(s *side) float64 { return float64(s.deliveries) / s.seconds }
	b.ReportMetric(pooled(fanout)/pooled(forwarder), "ratio-pooled")
	for _, s := range []*side{forwarder, fanout} {
		b.ReportMetric(pooled(s), s.name+"-deliveries/s")
		b.ReportMetric(s.cpu*1e6/float64(s.deliveries), s.name+"-cpu-us/delivery")
		b.ReportMetric(s.benchCPU*1e6/float64(s.deliveries), s.name+"-bench-cpu-us/delivery")
	}
	b.ReportMetric(float64(fanout.refused), "refused-webhooks")
}

// median is the middle of sorted xs, or the mean of its two middle
// values.
func median(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
