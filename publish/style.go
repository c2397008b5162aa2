package publish

import "github.com/am-fanout/am-fanout/core"

// stateStyle is how a target shows an alert's state, such as an emoji or
// a colour: one value once resolved, else one per severity, the info one
// for an alert without a known severity. Every target that styles by
// state follows this one precedence.
type stateStyle[T any] struct {
	resolved, critical, warning, info T
}

// of picks the style of the alert's state.
func (s stateStyle[T]) of(a *core.EnrichedAlert) T {
	if a.Alert.Status == core.StatusResolved {
		return s.resolved
	}
	switch a.Classification.Severity {
	case core.SeverityCritical:
		return s.critical
	case core.SeverityWarning:
		return s.warning
	}
	return s.info
}
