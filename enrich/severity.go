package enrich

import (
	"strings"

	"github.com/am-fanout/am-fanout/core"
)

// severityAliases is the table NormalizeSeverity documents.
var severityAliases = map[string]core.Severity{
	"critical": core.SeverityCritical, "crit": core.SeverityCritical,
	"page": core.SeverityCritical, "pager": core.SeverityCritical,
	"emergency": core.SeverityCritical, "fatal": core.SeverityCritical,
	"p1": core.SeverityCritical, "sev1": core.SeverityCritical,

	"warning": core.SeverityWarning, "warn": core.SeverityWarning,
	"error": core.SeverityWarning, "err": core.SeverityWarning,
	"high": core.SeverityWarning, "major": core.SeverityWarning,
	"p2": core.SeverityWarning, "p3": core.SeverityWarning,
	"sev2": core.SeverityWarning, "sev3": core.SeverityWarning,

	"info": core.SeverityInfo, "informational": core.SeverityInfo,
	"notice": core.SeverityInfo, "low": core.SeverityInfo,
	"minor": core.SeverityInfo, "none": core.SeverityInfo,
	"p4": core.SeverityInfo, "p5": core.SeverityInfo,
	"sev4": core.SeverityInfo, "sev5": core.SeverityInfo,
}

// NormalizeSeverity maps a severity label value, in any of the spellings
// seen in the wild, to a normalised severity. The match ignores case and
// surrounding white space:
//
//	critical: critical, crit, page, pager, emergency, fatal, p1, sev1
//	warning:  warning, warn, error, err, high, major, p2, p3, sev2, sev3
//	info:     info, informational, notice, low, minor, none, p4, p5, sev4, sev5
//
// "error" and "high" count as warning, not critical: rule sets use them for
// problems that need attention during working hours, and paging someone
// for them would teach responders to ignore pages. Any other value, or no
// severity label at all, is info; a rule can raise it.
func NormalizeSeverity(raw string) core.Severity {
	if s, ok := severityAliases[strings.ToLower(strings.TrimSpace(raw))]; ok {
		return s
	}
	return core.SeverityInfo
}
