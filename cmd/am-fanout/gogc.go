package main

import (
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/am-fanout/am-fanout/config"
)

// applyGoGC sets the collector's GOGC to the configuration's
// runtime.gogc, unless the environment sets GOGC: the environment wins,
// as it does for GOMEMLIMIT. It is the Go runtime's go_gc_gogc_percent on
// /metrics.
func applyGoGC(rt config.Runtime, logger *slog.Logger) {
	if v := os.Getenv("GOGC"); v != "" {
		logger.Debug("GOGC from the environment, runtime.gogc not applied", "GOGC", v)
		return
	}
	if old := debug.SetGCPercent(rt.GoGC); old != rt.GoGC {
		logger.Info("GOGC set from runtime.gogc", "gogc", rt.GoGC, "was", old)
	}
}
