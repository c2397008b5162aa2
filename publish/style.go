package publish

import "github.com/am-fanout/am-fanout/core"

// StateStyle is how a target shows an alert's state, such as an emoji or
// a colour: one value once resolved, else one per severity, the info one
// for an alert without a known severity. Every target that styles by
// state follows this one precedence.
type StateStyle[T any] struct {
	Resolved, Critical, Warning, Info T
}

// Of picks the style of the alert's state.
func (s StateStyle[T]) Of(a *core.EnrichedAlert) T {
	if a.Alert.Status == core.StatusResolved {
		return s.Resolved
	}
	switch a.Classification.Severity {
	case core.SeverityCritical:
		return s.Critical
	case core.SeverityWarning:
		return s.Warning
	}
	return s.Info
}
