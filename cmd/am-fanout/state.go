package main

import (
	"github.com/am-fanout/am-fanout/outbox"
	"github.com/am-fanout/am-fanout/publish"
)

// publisherState hands each target's publisher its state in the store.
func publisherState(store *outbox.Store) func(target string) publish.State {
	return func(target string) publish.State { return store.State(target) }
}
