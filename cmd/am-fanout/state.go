package main

import (
	"log/slog"
	"time"

	"github.com/am-fanout/am-fanout/outbox"
	"github.com/am-fanout/am-fanout/publish"
)

// importStateFiles moves the publisher state files that earlier versions
// kept under the storage path into the store, once.
func importStateFiles(storagePath string, store backend, logger *slog.Logger) error {
	return publish.ImportStateFiles(storagePath, func(target string, entries []publish.StateEntry) (int, error) {
		in := make([]outbox.StateEntry, len(entries))
		for i, e := range entries {
			in[i] = outbox.StateEntry(e)
		}
		return store.ImportState(target, in, time.Now())
	}, logger)
}

// publisherState hands each target's publisher its state in a bbolt
// store of its own, as dry runs and test sends use.
func publisherState(store *outbox.Store) func(target string) publish.State {
	return func(target string) publish.State { return store.State(target) }
}
