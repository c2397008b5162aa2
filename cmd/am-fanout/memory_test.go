package main

import (
	"bytes"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/am-fanout/am-fanout/config"
)

// GOMEMLIMIT in the environment wins over the container's limit: the
// runtime's limit is left as the environment set it.
func TestMemoryLimitFromTheEnvironmentIsKept(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	before := debug.SetMemoryLimit(-1)
	var logs bytes.Buffer
	setMemoryLimit(slog.New(slog.NewTextHandler(&logs, nil)))
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("the soft memory limit changed from %d to %d although GOMEMLIMIT is set", before, after)
	}
	if !strings.Contains(logs.String(), "memory limit from the environment") {
		t.Errorf("the log does not say where the limit comes from: %s", logs.String())
	}
}

// runtime.gogc sets the collector's GOGC, on every load of the
// configuration; GOGC in the environment wins over it.
func TestGoGCFromTheConfiguration(t *testing.T) {
	before := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(before) })
	t.Setenv("GOGC", "")
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	applyGoGC(config.Runtime{GoGC: 250}, logger)
	if got := debug.SetGCPercent(250); got != 250 {
		t.Errorf("GOGC is %d after applying runtime.gogc 250", got)
	}
	if !strings.Contains(logs.String(), "gogc=250 was=100") {
		t.Errorf("the change is not logged with both values: %s", logs.String())
	}

	t.Setenv("GOGC", "50")
	applyGoGC(config.Runtime{GoGC: 300}, logger)
	if got := debug.SetGCPercent(250); got != 250 {
		t.Errorf("runtime.gogc changed GOGC to %d although GOGC is set in the environment", got)
	}
}
