package main

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/fanout"
)

// classifiers holds the external classifier in force (enrich.classifier),
// through which the outbox prepares each delivery's alerts before its
// first attempt. A reload replaces it, unless its block is unchanged:
// then the classifier and its cache stay, so that resolves still find
// their firing's answer.
type classifiers struct {
	metrics *enrich.ClassifierMetrics
	logger  *slog.Logger

	cur  atomic.Pointer[enrich.Classifier]
	mu   sync.Mutex // guards conf, and cur's writers
	conf *config.Classifier
}

func newClassifiers(reg prometheus.Registerer, logger *slog.Logger) *classifiers {
	return &classifiers{metrics: enrich.NewClassifierMetrics(reg), logger: logger}
}

// Prepare implements fanout.Preparer; without a classifier it changes
// nothing.
func (c *classifiers) Prepare(ctx context.Context, a *core.EnrichedAlert) bool {
	if cl := c.cur.Load(); cl != nil {
		return cl.Prepare(ctx, a)
	}
	return false
}

// Active implements fanout.ActivePreparer: without a classifier,
// Prepare changes nothing.
func (c *classifiers) Active() bool { return c.cur.Load() != nil }

var _ fanout.ActivePreparer = (*classifiers)(nil)

// classifierChange is a classifier built for a configuration, not yet in
// force.
type classifierChange struct {
	conf *config.Classifier
	next *enrich.Classifier
	keep bool
}

// build makes the classifier of conf (nil: none), or keeps the current
// one when conf is what it was built of.
func (c *classifiers) build(conf *config.Classifier) (classifierChange, error) {
	c.mu.Lock()
	same := reflect.DeepEqual(conf, c.conf)
	c.mu.Unlock()
	if same || conf == nil {
		return classifierChange{conf: conf, keep: same}, nil
	}
	next, err := enrich.NewClassifier(conf, c.metrics, c.logger, userAgent())
	return classifierChange{conf: conf, next: next}, err
}

// use puts a built change in force and releases the classifier it
// replaces.
func (c *classifiers) use(ch classifierChange) {
	if ch.keep {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conf = ch.conf
	if old := c.cur.Swap(ch.next); old != nil {
		old.Close()
	}
}

// drop releases a built change that is not put in force.
func (ch classifierChange) drop() {
	if ch.next != nil {
		ch.next.Close()
	}
}

// close releases the classifier in force.
func (c *classifiers) close() {
	if cl := c.cur.Load(); cl != nil {
		cl.Close()
	}
}
