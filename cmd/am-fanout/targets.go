package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/am-fanout/am-fanout/breaker"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// buildPublishers gives every target its publisher; on error it closes
// those it made.
func buildPublishers(ts []*core.Target, o publish.Options) error {
	for i, t := range ts {
		p, err := publish.New(t, o)
		if err != nil {
			closePublishers(ts[:i])
			return fmt.Errorf("%s: %w", t.Source, err)
		}
		t.Publisher = p
	}
	return nil
}

// attachBreakers gives every target its breaker from the set, keeping the
// breakers of unchanged targets, and drops those of removed ones.
func attachBreakers(ts []*core.Target, set *breaker.Set) {
	names := make(map[string]bool, len(ts))
	for _, t := range ts {
		t.Circuit = set.Get(t.Name, t.Key, t.Breaker)
		names[t.Name] = true
	}
	set.Retain(names)
}

// closePublishers closes the publishers that hold resources (files,
// stores).
func closePublishers(ts []*core.Target) error {
	var errs []error
	for _, t := range ts {
		if c, ok := t.Publisher.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("target %q: %w", t.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
