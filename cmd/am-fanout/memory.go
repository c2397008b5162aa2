package main

import (
	"errors"
	"log/slog"
	"math"
	"os"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryRatio is the share of the container's memory limit given to the
// Go runtime as its soft limit (GOMEMLIMIT): the collector works harder
// as the heap nears it, leaving room for the rest of the process's
// memory before the kernel's limit kills it. The rest is not small: the
// binary and the outbox file's mapped pages measured 25-50 MiB of
// resident memory besides the heap (BENCHMARKS.md, Memory), so 90 % of
// the chart's 128 MiB let a busy heap take the process over its limit.
const memoryRatio = 0.7

// setMemoryLimit sets GOMEMLIMIT from the cgroup's memory limit, unless
// the environment sets GOMEMLIMIT itself or there is no limit. It is the
// Go runtime's go_gc_gomemlimit_bytes on /metrics.
func setMemoryLimit(logger *slog.Logger) {
	if v := os.Getenv("GOMEMLIMIT"); v != "" {
		logger.Info("memory limit from the environment", "GOMEMLIMIT", v)
		return
	}
	limit, err := memlimit.Set(memlimit.WithProvider(memlimit.FromCgroup), memlimit.WithRatio(memoryRatio))
	switch {
	case errors.Is(err, memlimit.ErrNoLimit), errors.Is(err, memlimit.ErrNoCgroup), err == nil && limit == math.MaxInt64:
		logger.Info("no container memory limit found: the Go runtime has no soft memory limit")
	case err != nil:
		logger.Warn("could not read the container memory limit; set GOMEMLIMIT to bound memory", "err", err)
	default:
		logger.Info("soft memory limit set from the container's", "gomemlimit_bytes", limit, "ratio", memoryRatio)
	}
}
