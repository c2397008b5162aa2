package fanout

import (
	"maps"
	"slices"
	"unsafe"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// The records kept in memory for the deliveries' first attempts, so that
// a healthy target's deliveries are not read back from the store.

// accepted is one alert of a notification as accepted, kept once for
// the first attempts of its deliveries to every target that selects it:
// their records differ only in target and id. Its cost counts against
// maxCached while one of them keeps it.
type accepted struct {
	rec  outbox.Delivery
	cost int64
	refs int
}

// newAccepted keeps the record of c, a delivery as Encoder.Alert makes
// it. Its cost is the alert's heap: a decoded alert takes about three
// times its encoding (1.9 KiB for 552 bytes of labels, annotations and
// group, measured), beside the struct.
func newAccepted(c *outbox.Candidate) *accepted {
	return &accepted{rec: *c.Delivery, cost: int64(unsafe.Sizeof(core.EnrichedAlert{})) + 3*int64(c.Shared())}
}

// record is the record of the delivery of a's alert to target, id.
func (a *accepted) record(id uint64, target string) *outbox.Delivery {
	d := a.rec
	d.ID, d.Target = id, target
	return &d
}

// keptCost is what an entry keeping a shared alert counts of its own:
// its share and cost fields.
const keptCost int64 = 16

// maxCached bounds the bytes of the accepted records kept in memory for
// their first attempts: a healthy target's deliveries skip reading their
// record back, while a storm's backlog waits in the file, not the heap.
// A quarter of max_bytes (8 MiB by default) keeps a full default backlog
// of ten-target alerts (30 000 deliveries) in memory, which an eighth did
// not: 17 % less CPU per delivery under that overload, for 5 to 12 MiB
// more peak RSS (BENCHMARKS.md).
func (p *Pipeline) maxCached() int64 { return p.opts.MaxBytes / 4 }

// cache keeps an accepted record for its first attempt, if the budget
// allows: a group's as it is, an alert's as sh, the alert shared with
// its deliveries to other targets (nil: d's own). p.mu must be held.
func (p *Pipeline) cache(e *entry, d *outbox.Delivery, sh *accepted) {
	if e == nil || e.cached != nil || e.share != nil {
		return
	}
	cost, shared := int64(e.size), int64(0)
	if sh != nil {
		cost = keptCost
		if sh.refs == 0 {
			shared = sh.cost
		}
	}
	if p.cachedBytes+cost+shared > p.maxCached() {
		return
	}
	switch {
	case sh != nil:
		sh.refs++
		e.share = sh
	case d.Group != nil:
		e.cached = ownMaps(d)
	default:
		e.cached = d
	}
	e.cost = cost
	p.cachedBytes += cost + shared
}

// ownMaps gives a record maps of its own: the deliveries of one alert to
// several targets share the accepted alert's maps (a delivery as
// accepted carries the alert's render memo), and the preparer (the
// classifier) changes them, as it may a record read back from the store;
// prepare copies them first. Nothing else after acceptance writes to
// them (a fallback's marks are copies). A notification's alerts are
// copied when the record is kept.
func ownMaps(d *outbox.Delivery) *outbox.Delivery {
	own := func(a *core.EnrichedAlert) {
		a.Alert.Labels, a.Alert.Annotations = maps.Clone(a.Alert.Labels), maps.Clone(a.Alert.Annotations)
		a.Group.GroupLabels, a.Group.CommonLabels = maps.Clone(a.Group.GroupLabels), maps.Clone(a.Group.CommonLabels)
		a.Group.CommonAnnotations = maps.Clone(a.Group.CommonAnnotations)
		a.Links = slices.Clone(a.Links)
		a.Classification.Rules = slices.Clone(a.Classification.Rules)
	}
	if d.Group == nil {
		own(&d.Alert)
		return d
	}
	n := *d.Group
	n.Alerts = slices.Clone(n.Alerts)
	n.Group.GroupLabels, n.Group.CommonLabels = maps.Clone(n.Group.GroupLabels), maps.Clone(n.Group.CommonLabels)
	n.Group.CommonAnnotations = maps.Clone(n.Group.CommonAnnotations)
	for i := range n.Alerts {
		own(&n.Alerts[i])
	}
	d.Group = &n
	return d
}

// uncache takes an entry's cached record, nil if it holds none; p.mu
// must be held.
func (p *Pipeline) uncache(e *entry) *outbox.Delivery {
	d := e.cached
	if sh := e.share; sh != nil {
		d = sh.record(e.id, e.lane.name)
	}
	p.drop(e)
	return d
}

// drop lets go of an entry's cached record; p.mu must be held.
func (p *Pipeline) drop(e *entry) {
	if sh := e.share; sh != nil {
		if sh.refs--; sh.refs == 0 {
			p.cachedBytes -= sh.cost
		}
	}
	p.cachedBytes -= e.cost
	e.cached, e.share, e.cost = nil, nil, 0
}
