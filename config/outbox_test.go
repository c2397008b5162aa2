package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOutboxSection(t *testing.T) {
	cfg, _, err := parseFixture(t, "")
	require.NoError(t, err)
	assert.Equal(t, DefaultOutbox(), cfg.Outbox, "an omitted outbox section takes the defaults")

	cfg, _, err = parseFixture(t, "outbox:\n  wait_for_first_attempt: true\n  retry_base: 2s\n  max_pending: 10\n")
	require.NoError(t, err)
	want := DefaultOutbox()
	want.WaitForFirstAttempt, want.RetryBase, want.MaxPending = true, dur(2*time.Second), 10
	assert.Equal(t, want, cfg.Outbox, "keys set override their defaults, the others keep them")

	cfg, _, err = parseFixture(t, "outbox:\n  wait_for_room: 0s\n")
	require.NoError(t, err)
	assert.Zero(t, cfg.Outbox.WaitForRoom, "wait_for_room: 0s answers 503 at once, not the default")
}

func TestOutboxErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name    string
		content string
		line    int
		want    []string
	}{
		{"unknown key", "outbox:\n  max_pendng: 1\n", 2, []string{`unknown field "max_pendng"`}},
		{"zero retry base", "outbox:\n  retry_base: 0s\n", 2, []string{"outbox.retry_base", "must be positive"}},
		{"cap below base", "outbox:\n  retry_base: 1m\n  retry_cap: 10s\n", 3, []string{"outbox.retry_cap", "shorter than retry_base"}},
		{"zero max_pending", "outbox:\n  max_pending: 0\n", 2, []string{"outbox.max_pending", "at least 1"}},
		{"negative max_bytes", "outbox:\n  max_bytes: -1\n", 2, []string{"outbox.max_bytes", "at least 1"}},
		{"empty file", "outbox:\n  file: ''\n", 2, []string{"outbox.file", "must not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRejectedAt(t, tt.content, tt.line, tt.want)
		})
	}
}
