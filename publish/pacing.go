package publish

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/am-fanout/am-fanout/core"
)

// Grouped is implemented by the Config of a type whose messages read best
// one per notification, as in a chat: DefaultGroupBy is the target's
// group_by when neither the target nor the defaults set one. Types that do
// not implement it default to core.GroupByAlert.
type Grouped interface {
	DefaultGroupBy() core.GroupBy
}

// RateLimited is implemented by the Config of a type whose vendor limits
// how fast it may be sent to: DefaultRateLimit is the documented pace and
// what it applies to (Scope, a hash: targets of one scope share a bucket).
// It is called on a validated Config, whose secrets are read. A rate_limit
// in the config replaces PerSecond and Burst but keeps Scope. Types that
// do not implement it are unlimited unless configured.
type RateLimited interface {
	DefaultRateLimit() core.RateLimit
}

// DefaultGroupBy is the group_by of c's type: its Grouped default, else
// core.GroupByAlert.
func DefaultGroupBy(c Config) core.GroupBy {
	if g, ok := c.(Grouped); ok {
		return g.DefaultGroupBy()
	}
	return core.GroupByAlert
}

// DefaultRateLimit is the pace of c's type: its RateLimited default, else
// unlimited for the target alone.
func DefaultRateLimit(c Config) core.RateLimit {
	if r, ok := c.(RateLimited); ok {
		return r.DefaultRateLimit()
	}
	return core.RateLimit{}
}

// Scope names what a vendor limits (a webhook URL, a routing key, a token
// and channel) without revealing it: the hex of the first 16 bytes of the
// SHA-256 of parts. The first part should be the type, so that two types
// never share a scope by accident.
func Scope(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:16])
}
