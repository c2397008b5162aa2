package fanout

import (
	"maps"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// The marks of a delivery handed to a fallback target, on its alert (or
// on each alert of its notification, and the notification's common
// labels and annotations): every publisher shows an alert's labels, and
// the Alertmanager payload carries both.
const (
	// LabelFallbackFrom names the target whose dead letter it was.
	LabelFallbackFrom = "am_fanout_fallback_from"
	// AnnotationFallbackReason is why that delivery became a dead letter.
	AnnotationFallbackReason = "am_fanout_fallback_reason"
)

// fallbackNames are the fallback targets of the lane's target: as
// configured now, or as last configured when the target is gone.
func (p *Pipeline) fallbackNames(l *lane) []string {
	for _, t := range p.src.Targets() {
		if t.Name == l.name {
			return t.Fallback
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return l.fallback
}

// handover makes the deliveries that hand the dead letter d to the
// fallback targets names, marked with where they come from and why, and
// notes on d the targets it is handed to. A fallback receives what its
// matchers would not select, but no resolved alert unless it sends
// resolved ones. A notification goes whole to a target with group_by:
// notification, and alert by alert to the others.
func (p *Pipeline) handover(d *outbox.Delivery, names []string, now time.Time) []*outbox.Candidate {
	if len(names) == 0 {
		return nil
	}
	byName := map[string]*core.Target{}
	for _, t := range p.src.Targets() {
		byName[t.Name] = t
	}
	var alerts []core.EnrichedAlert
	if d.Group != nil {
		alerts = d.Group.Alerts
	} else {
		alerts = []core.EnrichedAlert{d.Alert}
	}
	marked := make([]core.EnrichedAlert, len(alerts))
	for i := range alerts {
		marked[i] = alerts[i]
		marked[i].Alert.Labels = mark(alerts[i].Alert.Labels, LabelFallbackFrom, d.Target)
		marked[i].Alert.Annotations = mark(alerts[i].Alert.Annotations, AnnotationFallbackReason, d.DeadReason)
	}
	var cands []*outbox.Candidate
	d.FallbackTo = nil
	for _, name := range names {
		t := byName[name]
		if t == nil {
			p.logger.Warn("a fallback target is no longer configured; the dead letter is not handed to it", "target", d.Target, "fallback", name, "id", d.ID)
			continue
		}
		var handed []*outbox.Candidate
		if d.Group != nil && grouped(t) {
			if c := p.fallbackGroup(d, t, marked, now); c != nil {
				handed = append(handed, c)
			}
		} else {
			for i := range marked {
				if marked[i].Alert.Status == core.StatusResolved && !t.SendResolved {
					continue
				}
				fd := &outbox.Delivery{Target: t.Name, Alert: marked[i], FallbackFrom: d.Target, AcceptedAt: now, NextAttempt: now}
				handed = append(handed, outbox.NewCandidate(fd))
			}
		}
		if len(handed) > 0 {
			d.FallbackTo = append(d.FallbackTo, t.Name)
			cands = append(cands, handed...)
		}
	}
	return cands
}

// fallbackGroup is the notification of the dead letter d for the grouped
// fallback t, of the alerts it takes; nil when it takes none. It keeps the
// notification's arrival, which orders it after older ones of its group.
func (p *Pipeline) fallbackGroup(d *outbox.Delivery, t *core.Target, marked []core.EnrichedAlert, now time.Time) *outbox.Candidate {
	n := *d.Group
	n.Alerts = nil
	for _, a := range marked {
		if a.Alert.Status == core.StatusFiring || t.SendResolved {
			n.Alerts = append(n.Alerts, a)
		}
	}
	if len(n.Alerts) == 0 {
		return nil
	}
	n.Group.CommonLabels = mark(n.Group.CommonLabels, LabelFallbackFrom, d.Target)
	n.Group.CommonAnnotations = mark(n.Group.CommonAnnotations, AnnotationFallbackReason, d.DeadReason)
	n.Group.Status = n.Status()
	fd := &outbox.Delivery{Target: t.Name, Group: &n, FallbackFrom: d.Target, AcceptedAt: now, NextAttempt: now}
	return outbox.NewCandidate(fd)
}

// mark returns a copy of m with k set to v.
func mark(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	maps.Copy(out, m)
	out[k] = v
	return out
}

// admitHanded queues the fallback deliveries a committed bury accepted in
// their targets' lanes and counts them.
func (p *Pipeline) admitHanded(from string, hand []*outbox.Candidate) {
	if len(hand) == 0 {
		return
	}
	p.mu.Lock()
	for _, c := range hand {
		if c.State != outbox.StateAccepted {
			continue
		}
		p.admitOnce(c)
		p.metrics.fallbacks.WithLabelValues(from, c.Delivery.Target).Inc()
	}
	p.mu.Unlock()
	p.poke()
}
