package fanout

import (
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// GoneTargets remembers the targets that reported themselves gone
// (core.ErrTargetGone), by name and configuration: an Attempter skips them
// without a request until their configuration changes (core.Target.Key,
// and the Destination of publishers that have one). Like the breakers, it
// outlives the pipeline of one configuration. Its zero value is ready.
type GoneTargets struct {
	mu     sync.Mutex
	byName map[string]goneEntry
}

// Gone is why, and since when, a target is gone.
type Gone struct {
	Since time.Time
	// Error is the failure that said so; it never holds a secret.
	Error string
}

type goneEntry struct {
	identity string
	Gone
}

// Destination is implemented by publishers whose destination lies in a
// secret that core.Target.Key leaves out (a webhook URL with its token).
// It returns a digest of it, never the secret, so that a target given a
// new webhook is not taken for the gone one.
type Destination interface {
	Destination() string
}

// identity is what must change for a gone target to be tried again.
func identity(t *core.Target) string {
	if d, ok := t.Publisher.(Destination); ok {
		return t.Key + "\x00" + d.Destination()
	}
	return t.Key
}

// Lookup reports whether t, as configured now, is gone.
func (g *GoneTargets) Lookup(t *core.Target) (Gone, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.byName[t.Name]
	if !ok || e.identity != identity(t) {
		return Gone{}, false
	}
	return e.Gone, true
}

// mark records that t is gone; it reports whether t was not gone before.
func (g *GoneTargets) mark(t *core.Target, err error, now time.Time) bool {
	id := identity(t)
	g.mu.Lock()
	defer g.mu.Unlock()
	if e, ok := g.byName[t.Name]; ok && e.identity == id {
		return false
	}
	if g.byName == nil {
		g.byName = map[string]goneEntry{}
	}
	g.byName[t.Name] = goneEntry{identity: id, Gone: Gone{Since: now, Error: err.Error()}}
	return true
}

// Forget drops the state of a target that is no longer configured.
func (g *GoneTargets) Forget(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.byName, name)
}
