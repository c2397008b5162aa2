package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRuntimeSection(t *testing.T) {
	cfg, _, err := parseFixture(t, "")
	require.NoError(t, err)
	assert.Equal(t, DefaultGoGC, cfg.Runtime.GoGC, "an omitted runtime section takes the default GOGC")
	assert.Equal(t, int64(DefaultHeapFloor), cfg.Runtime.HeapFloor, "an omitted runtime section takes the default heap floor")

	cfg, _, err = parseFixture(t, "runtime:\n  gogc: 75\n")
	require.NoError(t, err)
	assert.Equal(t, 75, cfg.Runtime.GoGC)
	assert.Equal(t, int64(DefaultHeapFloor), cfg.Runtime.HeapFloor, "an omitted heap_floor keeps its default")

	cfg, _, err = parseFixture(t, "runtime:\n  heap_floor: 0\n")
	require.NoError(t, err)
	assert.Equal(t, int64(0), cfg.Runtime.HeapFloor, "0 turns the floor off")
	assert.Equal(t, DefaultGoGC, cfg.Runtime.GoGC)
}

func TestRuntimeErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name    string
		content string
		line    int
		want    []string
	}{
		{"unknown key", "runtime:\n  go_gc: 100\n", 2, []string{`unknown field "go_gc"`}},
		{"zero", "runtime:\n  gogc: 0\n", 2, []string{"runtime.gogc", "at least 1, got 0", "GOGC=off"}},
		{"negative", "runtime:\n  gogc: -1\n", 2, []string{"runtime.gogc", "got -1"}},
		{"not a number", "runtime:\n  gogc: off\n", 2, []string{"cannot unmarshal", "`off` into int"}},
		{"negative floor", "runtime:\n  gogc: 100\n  heap_floor: -1\n", 3, []string{"runtime.heap_floor", "got -1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { requireRejectedAt(t, tt.content, tt.line, tt.want) })
	}
}
