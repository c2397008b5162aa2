package fanout

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/core"
)

// metrics are the pipeline's series. The gauges are computed at scrape time
// from the pending deliveries in memory: on a replica that does not hold
// the lease, none are pending and no lane has a state.
type metrics struct {
	p            *Pipeline
	retries      *prometheus.CounterVec
	deadLetters  *prometheus.CounterVec
	deadDropped  *prometheus.CounterVec
	coalesced    *prometheus.CounterVec
	fallbacks    *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	fanoutTook   *prometheus.HistogramVec
	fanoutTotal  *prometheus.CounterVec
	laneState    *prometheus.Desc
	laneWait     *prometheus.Desc
	pending      *prometheus.Desc
	oldest       *prometheus.Desc
	bytes        *prometheus.Desc
	leader       *prometheus.Desc
	commits      *prometheus.Desc
	commitWrites *prometheus.Desc
	commitTook   *prometheus.Desc
	checkpoints  *prometheus.Desc
	checkTook    *prometheus.Desc
}

func newMetrics(p *Pipeline) *metrics {
	m := &metrics{
		p: p,
		retries: counter("am_fanout_delivery_retries_total",
			"Delivery attempts after the first, by target.", "target"),
		deadLetters: counter("am_fanout_dead_letters_total",
			"Deliveries that became dead letters (permanent failure or maximum age), by target.", "target"),
		deadDropped: counter("am_fanout_dead_letters_dropped_total",
			"Dead letters dropped by outbox.dead_letter_retention (reason age) or outbox.max_dead_letters (reason count).", "reason"),
		coalesced: counter("am_fanout_deliveries_coalesced_total",
			"Pending group messages replaced by a newer notification of the same group before they went out, by target.", "target"),
		fallbacks: counter("am_fanout_fallbacks_total",
			"Deliveries of a target's dead letters accepted for its fallback targets, by target and fallback.", "target", "fallback"),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "am_fanout_delivery_latency_seconds",
			Help:    "Time from a delivery's acceptance by the webhook to its successful attempt, by target.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 1800},
		}, []string{"target"}),
		fanoutTook: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "am_fanout_fanout_duration_seconds",
			Help:    "Duration of the first attempts of one alert to all its targets, when the caller waits for them, by result.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"result"}),
		fanoutTotal: counter("am_fanout_fanout_total",
			"Fan-outs of one alert waited for, by result (success, partial_success, failure).", "result"),
		laneState: prometheus.NewDesc("am_fanout_lane_state",
			"State of a target's lane: 1 for the state it is in (idle, open, paced, paused, probing, breaker_open), 0 for the others.",
			[]string{"target", "state"}, nil),
		laneWait: prometheus.NewDesc("am_fanout_lane_wait_seconds",
			"How long until a target's lane may send again: its pace, pause or next probe; 0 when it may now.",
			[]string{"target"}, nil),
		pending: prometheus.NewDesc("am_fanout_outbox_pending",
			"Deliveries persisted and not yet delivered, by target.", []string{"target"}, nil),
		oldest: prometheus.NewDesc("am_fanout_outbox_oldest_pending_age_seconds",
			"Age of the oldest pending delivery, by target; 0 with none.", []string{"target"}, nil),
		bytes: prometheus.NewDesc("am_fanout_outbox_bytes",
			"Size of the outbox store file in bytes.", nil, nil),
		commits: prometheus.NewDesc("am_fanout_outbox_commits_total",
			"Commits of the outbox store (each one fsync'd write, of its write-ahead log when it is durable, shared by the writes waiting at the time).", nil, nil),
		commitWrites: prometheus.NewDesc("am_fanout_outbox_commit_writes_total",
			"Writes (acceptances, attempts' outcomes, dead-letter changes) the outbox store's commits held.", nil, nil),
		commitTook: prometheus.NewDesc("am_fanout_outbox_commit_seconds_total",
			"Time the outbox store spent committing, fsync included; its rate is the share of time the committer is busy.", nil, nil),
		checkpoints: prometheus.NewDesc("am_fanout_outbox_checkpoints_total",
			"Checkpoints of the durable outbox store: the changes its write-ahead log held, written to the store file in one bbolt commit.", nil, nil),
		checkTook: prometheus.NewDesc("am_fanout_outbox_checkpoint_seconds_total",
			"Time the outbox store's checkpoints took, fsyncs included; the committer is busy then too.", nil, nil),
		leader: prometheus.NewDesc("am_fanout_lanes_leader",
			"1 when this replica runs the lanes (it holds their lease, or runs without one), 0 when another replica does.", nil, nil),
	}
	// The waited fan-outs' series exist from the start, so that rate()
	// sees the first one and dashboards find them.
	for _, r := range []string{"success", "partial_success", "failure"} {
		m.fanoutTotal.WithLabelValues(r)
		m.fanoutTook.WithLabelValues(r)
	}
	return m
}

// Register adds the pipeline's metrics to reg.
func (p *Pipeline) Register(reg prometheus.Registerer) error { return reg.Register(p.metrics) }

// counter is a counter vector of the pipeline, by labels.
func counter(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
}

// vectors are the series kept by the client library, as opposed to
// those computed at scrape time.
func (m *metrics) vectors() []prometheus.Collector {
	return []prometheus.Collector{m.retries, m.deadLetters, m.deadDropped, m.coalesced,
		m.fallbacks, m.latency, m.fanoutTook, m.fanoutTotal}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.vectors() {
		c.Describe(ch)
	}
	ch <- m.laneState
	ch <- m.laneWait
	ch <- m.pending
	ch <- m.oldest
	ch <- m.bytes
	ch <- m.leader
	if _, ok := m.p.store.(Committer); ok {
		ch <- m.commits
		ch <- m.commitWrites
		ch <- m.commitTook
		ch <- m.checkpoints
		ch <- m.checkTook
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	count, oldest := map[string]float64{}, map[string]int64{}
	for _, t := range m.p.src.Targets() {
		// Every configured target has its counters from the start, so
		// that rate() and increase() see the first increment.
		count[t.Name] = 0
		m.retries.WithLabelValues(t.Name)
		m.deadLetters.WithLabelValues(t.Name)
		m.coalesced.WithLabelValues(t.Name)
		for _, f := range t.Fallback {
			m.fallbacks.WithLabelValues(t.Name, f)
		}
	}
	for _, c := range m.vectors() {
		c.Collect(ch)
	}
	for name, l := range m.p.Lanes() {
		if _, ok := count[name]; !ok {
			continue
		}
		for _, st := range LaneStates() {
			v := 0.0
			if st == l.State {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(m.laneState, prometheus.GaugeValue, v, name, string(st))
		}
		wait := 0.0
		if !l.Until.IsZero() {
			wait = max(time.Until(l.Until).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(m.laneWait, prometheus.GaugeValue, wait, name)
	}
	m.p.mu.Lock()
	leader := 0.0
	if m.p.term != nil {
		leader = 1
	}
	for _, e := range m.p.entries {
		name := e.lane.name
		count[name]++
		if at, ok := oldest[name]; !ok || e.accepted < at {
			oldest[name] = e.accepted
		}
	}
	m.p.mu.Unlock()
	now := time.Now()
	for name, n := range count {
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, n, name)
		age := 0.0
		if at, ok := oldest[name]; ok {
			age = now.Sub(time.Unix(0, at)).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age, name)
	}
	ch <- prometheus.MustNewConstMetric(m.bytes, prometheus.GaugeValue, float64(m.p.store.Size()))
	ch <- prometheus.MustNewConstMetric(m.leader, prometheus.GaugeValue, leader)
	if c, ok := m.p.store.(Committer); ok {
		st := c.CommitStats()
		ch <- prometheus.MustNewConstMetric(m.commits, prometheus.CounterValue, float64(st.Commits))
		ch <- prometheus.MustNewConstMetric(m.commitWrites, prometheus.CounterValue, float64(st.Writes))
		ch <- prometheus.MustNewConstMetric(m.commitTook, prometheus.CounterValue, st.Took.Seconds())
		ch <- prometheus.MustNewConstMetric(m.checkpoints, prometheus.CounterValue, float64(st.Checkpoints))
		ch <- prometheus.MustNewConstMetric(m.checkTook, prometheus.CounterValue, st.CheckpointTook.Seconds())
	}
}

// delivered observes a delivery's time from acceptance to success.
func (m *metrics) delivered(target string, took time.Duration) {
	m.latency.WithLabelValues(target).Observe(took.Seconds())
}

// forget deletes the series of a target that is no longer configured.
func (m *metrics) forget(name string) {
	m.retries.DeleteLabelValues(name)
	m.deadLetters.DeleteLabelValues(name)
	m.coalesced.DeleteLabelValues(name)
	m.fallbacks.DeletePartialMatch(prometheus.Labels{"target": name})
	m.fallbacks.DeletePartialMatch(prometheus.Labels{"fallback": name})
	m.latency.DeleteLabelValues(name)
}

// fanout observes the first attempts of one alert that a caller waited for.
func (m *metrics) fanout(r *core.ParallelPublishResult) {
	res := r.Result()
	m.fanoutTotal.WithLabelValues(res).Inc()
	m.fanoutTook.WithLabelValues(res).Observe(r.Duration.Seconds())
}
