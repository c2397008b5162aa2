package config

import (
	"fmt"
	"math"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// RateLimit is a rate_limit block: the pace of a target's requests. A
// field left out keeps the value of the defaults, or else of the type's
// vendor; per_second 0 means unlimited.
type RateLimit struct {
	PerSecond *float64 `yaml:"per_second"`
	Burst     *int     `yaml:"burst"`
}

// validate checks the block's own values; at is its path, for the line,
// and who, when not empty, names the target in the message.
func (r *RateLimit) validate(pos *position, at, who string) error {
	if r == nil {
		return nil
	}
	if r.PerSecond != nil && (*r.PerSecond < 0 || math.IsNaN(*r.PerSecond) || math.IsInf(*r.PerSecond, 0)) {
		return pos.errorf(at+".per_second", "%smust be a number of requests a second, 0 or more (0 is unlimited), got %v", who, *r.PerSecond)
	}
	if r.Burst != nil && *r.Burst < 0 {
		return pos.errorf(at+".burst", "%smust not be negative, got %d", who, *r.Burst)
	}
	return nil
}

// over returns base with the fields the block sets.
func (r *RateLimit) over(base core.RateLimit) core.RateLimit {
	if r == nil {
		return base
	}
	if r.PerSecond != nil {
		base.PerSecond = *r.PerSecond
	}
	if r.Burst != nil {
		base.Burst = *r.Burst
	}
	return base
}

// validGroupBy checks a group_by value at path at; "" is unset. who, when
// not empty, names the target in the message.
func validGroupBy(pos *position, at, who string, g core.GroupBy) error {
	switch g {
	case "", core.GroupByAlert, core.GroupByNotification:
		return nil
	}
	return pos.errorf(at, "%s%q is not one of %s, %s", who, g, core.GroupByAlert, core.GroupByNotification)
}

// pacing resolves the target's group_by and rate_limit: its own value,
// else the defaults', else its type's. It runs once the spec is
// validated, since a vendor's scope is a hash of its secrets.
func (t *targetBlock) pacing(pos *position, d *Defaults) error {
	who := fmt.Sprintf("target %q: ", t.Name)
	if err := validGroupBy(pos, "group_by", who, t.GroupBy); err != nil {
		return err
	}
	if err := t.RateLimit.validate(pos, "rate_limit", who); err != nil {
		return err
	}
	t.groupBy = t.GroupBy
	if t.groupBy == "" {
		t.groupBy = d.GroupBy
	}
	if t.groupBy == "" {
		t.groupBy = publish.DefaultGroupBy(t.spec)
	}
	t.rateLimit = t.RateLimit.over(d.RateLimit.over(publish.DefaultRateLimit(t.spec)))
	if !t.rateLimit.Unlimited() && t.rateLimit.Burst < 1 {
		return pos.errorf("rate_limit.burst", "%sburst must be at least 1 when per_second is %v", who, t.rateLimit.PerSecond)
	}
	return nil
}
