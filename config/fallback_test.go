package config

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFallbackIsReadAndNotPartOfTheKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "conf.yml")
	cfg, err := Parse([]byte("targets:\n"+
		"  - {name: a, type: file, path: a, fallback: [b, c]}\n"+
		"  - {name: b, type: file, path: b, fallback: [c]}\n"+
		"  - {name: c, type: file, path: c}\n"), path)
	require.NoError(t, err)
	assert.Equal(t, []string{"b", "c"}, cfg.Targets[0].Fallback)
	assert.Equal(t, []string{"c"}, cfg.Targets[1].Fallback)
	assert.Empty(t, cfg.Targets[2].Fallback)

	other, err := Parse([]byte("targets:\n"+
		"  - {name: a, type: file, path: a, fallback: [c]}\n"+
		"  - {name: b, type: file, path: b}\n"+
		"  - {name: c, type: file, path: c}\n"), path)
	require.NoError(t, err)
	assert.Equal(t, cfg.Targets[0].Key, other.Targets[0].Key, "a reload that changes only the fallbacks keeps the target's breaker and health")
}

func TestFallbackErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name    string
		content string
		line    int
		want    []string
	}{
		{"unknown name", "targets:\n  - name: a\n    type: file\n    path: a\n    fallback:\n      - b\n", 6,
			[]string{`target "a"`, `fallback "b" is not a target`}},
		{"self-reference", "targets:\n  - {name: a, type: file, path: a, fallback: [a]}\n", 2,
			[]string{`fallback "a" makes a loop: a → a (`}},
		{"loop of two", "targets:\n" +
			"  - name: a\n    type: file\n    path: a\n    fallback: [b]\n" +
			"  - name: b\n    type: file\n    path: b\n    fallback:\n      - a\n", 10,
			[]string{`target "b"`, `fallback "a" makes a loop: a → b (`, ":5) → a (", ":10)"}},
		{"loop of three behind a chain", "targets:\n" +
			"  - {name: x, type: file, path: x, fallback: [a]}\n" +
			"  - {name: a, type: file, path: a, fallback: [b]}\n" +
			"  - {name: b, type: file, path: b, fallback: [c]}\n" +
			"  - {name: c, type: file, path: c, fallback: [a]}\n", 5,
			[]string{`makes a loop: a → b (`, "→ c (", "→ a ("}},
		{"listed twice", "targets:\n  - {name: a, type: file, path: a, fallback: [b, b]}\n  - {name: b, type: file, path: b}\n", 2,
			[]string{`fallback "b" is listed twice`}},
		{"not a list", "targets:\n  - name: a\n    type: file\n    path: a\n    fallback: b\n", 5, []string{"cannot unmarshal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, path, err := parseFixture(t, tt.content)
			require.Error(t, err, "config:\n%s", tt.content)
			prefix := path + ":" + strconv.Itoa(tt.line) + ": "
			assert.True(t, strings.HasPrefix(err.Error(), prefix), "error %q must start with %q", err, prefix)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestFallbackAcrossTheTargetsDirectory(t *testing.T) {
	dir := t.TempDir()
	main := writeFixture(t, dir, "am-fanout.yml", "targets:\n  - {name: a, type: file, path: a, fallback: [b]}\n")
	targets := filepath.Join(dir, "targets")
	writeFixture(t, targets, "b.yml", "targets:\n  - {name: b, type: file, path: b}\n")
	cfg, err := LoadFile(main, targets)
	require.NoError(t, err, "a fallback may name a target of the targets directory")
	assert.Equal(t, []string{"b"}, cfg.Targets[0].Fallback)

	bad := writeFixture(t, targets, "b.yml", "targets:\n  - name: b\n    type: file\n    path: b\n    fallback: [a]\n")
	_, err = LoadFile(main, targets)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), bad+":5: "), "error %q must name the entry closing the loop", err)
	assert.Contains(t, err.Error(), main+":2)")
}
