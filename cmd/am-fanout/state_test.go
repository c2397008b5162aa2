package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestStartImportsOldStateFiles: the Rootly ids an earlier version kept in
// a JSON file are in the store once am-fanout has started, and the file is
// set aside so that the next start does not import it again.
func TestStartImportsOldStateFiles(t *testing.T) {
	dir := t.TempDir()
	storage := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(storage, 0o700))
	old := filepath.Join(storage, "rootly-incidents.json")
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	require.NoError(t, os.WriteFile(old, []byte(`{"version":1,"entries":{"fp@2026-03-01T12:00:00Z":{"value":"alert-7","expires":"`+expires+`"}}}`), 0o600))
	configFile := filepath.Join(dir, "am-fanout.yml")
	require.NoError(t, os.WriteFile(configFile, []byte("targets:\n"+webhookTarget("audit", "http://127.0.0.1:1/")), 0o600))
	f := flags{configFile: configFile, storagePath: storage, maxBodyBytes: 1 << 20}

	for _, start := range []string{"first start", "second start"} {
		s, err := newServer(f, slog.New(slog.DiscardHandler))
		require.NoError(t, err, start)
		id, ok, err := s.durable.state("incidents").Get(context.Background(), "fp@2026-03-01T12:00:00Z")
		s.close()
		require.NoError(t, err, start)
		assert.True(t, ok && string(id) == "alert-7", "%s: the imported Rootly id is %q (found %v), want alert-7", start, id, ok)
		assert.NoFileExists(t, old, "%s: the old file is still in place", start)
		assert.FileExists(t, old+".imported", "%s: the old file was not set aside", start)
	}
}
