package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStorageSection(t *testing.T) {
	cfg, _, err := parseFixture(t, "")
	require.NoError(t, err)
	assert.Equal(t, Storage{Backend: BackendBbolt}, cfg.Storage, "an omitted storage section is bbolt")

	cfg, path, err := parseFixture(t, "storage:\n  backend: nats\n  nats:\n    servers: [nats://nats-0:4222, nats://nats-1:4222]\n    replicas: 5\n")
	require.NoError(t, err)
	assert.Equal(t, &NATSStorage{
		Servers: []string{"nats://nats-0:4222", "nats://nats-1:4222"}, StreamPrefix: DefaultNATSStreamPrefix, Replicas: 5,
		DuplicateWindow: dur(DefaultNATSDuplicateWindow), ConnectTimeout: dur(DefaultNATSConnectTimeout), LeaseTTL: dur(DefaultNATSLeaseTTL),
	}, cfg.Storage.NATS, "keys set override their defaults, the others keep them")

	creds := filepath.Join(filepath.Dir(path), "nats.creds")
	require.NoError(t, os.WriteFile(creds, []byte("creds"), 0o600))
	cfg, err = Parse([]byte("storage:\n  backend: nats\n  nats:\n    servers: [nats://n:4222]\n    credentials_file: nats.creds\n"), path)
	require.NoError(t, err)
	assert.Equal(t, creds, cfg.Storage.NATS.CredentialsFile, "a relative credentials file resolves against the config file's folder")
}

func TestStorageErrorsNameFileAndLine(t *testing.T) {
	const nats = "storage:\n  backend: nats\n  nats:\n    servers: [nats://n:4222]\n"
	tests := []struct {
		name    string
		content string
		line    int
		want    []string
	}{
		{"unknown backend", "storage:\n  backend: etcd\n", 2, []string{"storage.backend", `"etcd" is not one of bbolt, nats`}},
		{"unknown key", nats + "    replicaz: 3\n", 5, []string{`unknown field "replicaz"`}},
		{"nats without its block", "storage:\n  backend: nats\n", 2, []string{"storage.backend", "storage.nats is not set"}},
		{"nats block with bbolt", "storage:\n  nats:\n    servers: [nats://n:4222]\n", 3, []string{"storage.nats", "backend is bbolt"}},
		{"no servers", "storage:\n  backend: nats\n  nats:\n    replicas: 3\n", 4, []string{"storage.nats.servers", "at least one server"}},
		{"credentials in a URL", "storage:\n  backend: nats\n  nats:\n    servers:\n      - nats://u:p@n:4222\n", 5, []string{"storage.nats.servers.0", "holds credentials"}},
		{"missing credentials file", nats + "    credentials_file: none.creds\n", 5, []string{"storage.nats.credentials_file", "none.creds"}},
		{"zero replicas", nats + "    replicas: 0\n", 5, []string{"storage.nats.replicas", "1 to 5"}},
		{"six replicas", nats + "    replicas: 6\n", 5, []string{"storage.nats.replicas", "1 to 5"}},
		{"bad prefix", nats + "    stream_prefix: a.b\n", 5, []string{"storage.nats.stream_prefix", "letters, digits"}},
		{"window past the dedup window", "fanout:\n  dedup_window: 1m\n" + nats + "    duplicate_window: 5m\n", 7, []string{"storage.nats.duplicate_window", "longer than fanout.dedup_window"}},
		{"zero connect timeout", nats + "    connect_timeout: 0s\n", 5, []string{"storage.nats.connect_timeout", "must be positive"}},
		{"missing TLS file", nats + "    tls_config:\n      ca_file: none.pem\n", 6, []string{"storage.nats.tls_config", "none.pem"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			requireRejectedAt(t, tt.content, tt.line, tt.want)
		})
	}
}
