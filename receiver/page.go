package receiver

import (
	"bytes"
	"embed"
	"html/template"
	"net/http"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

//go:embed templates/status.html
var templates embed.FS

// statusPage is parsed once; html/template escapes every value, so a
// target name or error text can never become markup.
var statusPage = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"healthColour":  healthColour,
	"breakerColour": breakerColour,
	"rowColour":     rowColour,
	"stamp":         stamp,
}).ParseFS(templates, "templates/status.html"))

// pageData is what the status page shows.
type pageData struct {
	Status  Status
	Targets []TargetStatus
	Now     time.Time
}

// PageHandler serves the status page at /: every target coloured by
// health and breaker state, with its last errors, and the last reload.
func PageHandler(src StatusSource, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		data := pageData{Status: src.Status(), Targets: src.TargetStatuses(), Now: now()}
		if err := statusPage.Execute(&buf, data); err != nil {
			http.Error(rw, "rendering the status page failed", http.StatusInternalServerError)
			return
		}
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		rw.Header().Set("Cache-Control", "no-store")
		_, _ = buf.WriteTo(rw)
	})
}

func healthColour(s core.HealthStatus) string {
	switch s {
	case core.HealthHealthy:
		return "green"
	case core.HealthDegraded:
		return "amber"
	case core.HealthUnhealthy:
		return "red"
	default:
		return "grey"
	}
}

func breakerColour(state string) string {
	switch state {
	case "open":
		return "red"
	case "half-open":
		return "amber"
	default:
		return "green"
	}
}

// rowColour is the worse of a target's health and breaker colours: a
// target that is down shows red whichever of the two noticed first. A
// gone target is red.
func rowColour(t TargetStatus) string {
	if t.State == TargetGone {
		return "red"
	}
	h, b := healthColour(t.Health.Status), breakerColour(t.Breaker.State)
	for _, c := range []string{"red", "amber"} {
		if h == c || b == c {
			return c
		}
	}
	return "plain"
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
