package outbox

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the outbox's series. The gauges are computed at scrape time
// from the pending deliveries in memory.
type metrics struct {
	o           *Outbox
	retries     *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	deadDropped *prometheus.CounterVec
	pending     *prometheus.Desc
	oldest      *prometheus.Desc
	bytes       *prometheus.Desc
}

func newMetrics(o *Outbox) *metrics {
	return &metrics{
		o: o,
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "am_fanout_delivery_retries_total",
			Help: "Delivery attempts after the first, by target.",
		}, []string{"target"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "am_fanout_dead_letters_total",
			Help: "Deliveries that became dead letters (permanent failure or maximum age), by target.",
		}, []string{"target"}),
		deadDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "am_fanout_dead_letters_dropped_total",
			Help: "Dead letters dropped by outbox.dead_letter_retention (reason age) or outbox.max_dead_letters (reason count).",
		}, []string{"reason"}),
		pending: prometheus.NewDesc("am_fanout_outbox_pending",
			"Deliveries persisted and not yet delivered, by target.", []string{"target"}, nil),
		oldest: prometheus.NewDesc("am_fanout_outbox_oldest_pending_age_seconds",
			"Age of the oldest pending delivery, by target; 0 with none.", []string{"target"}, nil),
		bytes: prometheus.NewDesc("am_fanout_outbox_bytes",
			"Size of the outbox store file in bytes.", nil, nil),
	}
}

// Register adds the outbox's metrics to reg.
func (o *Outbox) Register(reg prometheus.Registerer) error { return reg.Register(o.metrics) }

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.retries.Describe(ch)
	m.deadLetters.Describe(ch)
	m.deadDropped.Describe(ch)
	ch <- m.pending
	ch <- m.oldest
	ch <- m.bytes
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	count, oldest := map[string]float64{}, map[string]int64{}
	for _, t := range m.o.src.Targets() {
		// Every configured target has its counters from the start, so
		// that rate() and increase() see the first increment.
		count[t.Name] = 0
		m.retries.WithLabelValues(t.Name)
		m.deadLetters.WithLabelValues(t.Name)
	}
	m.retries.Collect(ch)
	m.deadLetters.Collect(ch)
	m.deadDropped.Collect(ch)
	m.o.mu.Lock()
	for _, e := range m.o.entries {
		name := e.slot.target()
		count[name]++
		if at, ok := oldest[name]; !ok || e.accepted < at {
			oldest[name] = e.accepted
		}
	}
	m.o.mu.Unlock()
	now := time.Now()
	for name, n := range count {
		ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, n, name)
		age := 0.0
		if at, ok := oldest[name]; ok {
			age = now.Sub(time.Unix(0, at)).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(m.oldest, prometheus.GaugeValue, age, name)
	}
	ch <- prometheus.MustNewConstMetric(m.bytes, prometheus.GaugeValue, float64(m.o.store.Size()))
}
