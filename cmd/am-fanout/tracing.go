package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/common/version"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/am-fanout/am-fanout/config"
)

// instrumentation names am-fanout's tracer in its spans.
const instrumentation = "github.com/am-fanout/am-fanout"

// applyTracing makes the tracing section in force: a reload that changes
// it replaces the exporter and shuts the previous one down, flushing its
// spans; one that does not keeps it.
func (s *server) applyTracing(cfg *config.Config) error {
	if err := s.tracing.Apply(cfg.Tracing.Options(version.Version)); err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	return nil
}

// acceptTracer is the webhook's tracer, nil while tracing is off so that
// requests carry no trace context to their deliveries.
func (s *server) acceptTracer() trace.Tracer {
	if !s.tracing.Enabled() {
		return nil
	}
	return s.tracing.Tracer(instrumentation)
}

func (s *server) shutdownTracing() {
	if err := s.tracing.Shutdown(); err != nil {
		s.logger.Warn("stopping tracing", "err", err)
	}
}

// routeOtelErrors sends the exporter's errors (an unreachable collector)
// to the log; the OpenTelemetry API takes its error handler only as a
// process-wide setting, so only the serving process sets it.
func routeOtelErrors(logger *slog.Logger) {
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("exporting traces", "err", err)
	}))
}
