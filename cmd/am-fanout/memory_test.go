package main

import (
	"bytes"
	"log/slog"
	"runtime/debug"
	"strings"
	"testing"
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
