package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/am-fanout/am-fanout/breaker"
	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/publish"
)

// builtTarget is a configured target ready for delivery, with what the
// status API needs to describe it.
type builtTarget struct {
	conf      *config.Target
	fanout    *fanout.Target
	breaker   *breaker.Breaker
	publisher core.Publisher
}

// buildPublishers makes the publisher of every target; on error it closes
// those it made.
func buildPublishers(cfg *config.Config, o publish.Options) ([]*builtTarget, error) {
	out := make([]*builtTarget, 0, len(cfg.Targets))
	for _, t := range cfg.Targets {
		p, err := publish.New(t.Name, t.Type, t.Spec, o)
		if err != nil {
			closePublishers(out)
			return nil, fmt.Errorf("%s: %w", t.Source(), err)
		}
		out = append(out, &builtTarget{conf: t, publisher: p})
	}
	return out, nil
}

// attachBreakers gives every target its breaker from the set, keeping the
// breakers of unchanged targets, and builds the fan-out targets.
func attachBreakers(ts []*builtTarget, set *breaker.Set) []*fanout.Target {
	out := make([]*fanout.Target, len(ts))
	names := make(map[string]bool, len(ts))
	for i, bt := range ts {
		t := bt.conf
		bt.breaker = set.Get(t.Name, t.Key(), breaker.Settings{
			Failures:         t.Breaker.Failures,
			OpenFor:          time.Duration(t.Breaker.OpenFor),
			HalfOpenRequests: t.Breaker.HalfOpenRequests,
		})
		bt.fanout = &fanout.Target{
			Target: core.Target{
				Name: t.Name, Type: t.Type, Source: t.Source(), Selector: t,
				SendResolved: t.SendResolved, Timeout: time.Duration(t.Timeout),
			},
			Publisher: bt.publisher,
			Breaker:   bt.breaker,
		}
		out[i] = bt.fanout
		names[t.Name] = true
	}
	set.Retain(names)
	return out
}

// closePublishers closes the publishers that hold resources (files,
// stores).
func closePublishers(ts []*builtTarget) error {
	var errs []error
	for _, bt := range ts {
		if c, ok := bt.publisher.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("target %q: %w", bt.conf.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}
