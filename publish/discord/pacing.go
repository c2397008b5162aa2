package discord

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/am-fanout/am-fanout/publish"
)

// bucketCheck is the publish.Checker of an answer that succeeded: when
// Discord says the webhook's bucket is empty (X-RateLimit-Remaining: 0),
// it tells throttled, if set, when it refills (X-RateLimit-Reset-After
// seconds from now), so that the next message waits instead of earning a
// 429 that counts towards Discord's invalid request limit.
func bucketCheck(name string, throttled func(string, time.Time), now func() time.Time) publish.Checker {
	return func(resp *http.Response, _ []byte) error {
		if throttled == nil {
			return nil
		}
		if wait, empty := bucketEmpty(resp.Header); empty {
			throttled(name, now().Add(wait))
		}
		return nil
	}
}

// bucketEmpty reports whether the headers say no request is left in the
// bucket, and how long until it resets.
func bucketEmpty(h http.Header) (time.Duration, bool) {
	if strings.TrimSpace(h.Get("X-RateLimit-Remaining")) != "0" {
		return 0, false
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(h.Get("X-RateLimit-Reset-After")), 64)
	if err != nil {
		return 0, false
	}
	wait := publish.SecondsWait(secs)
	return wait, wait > 0
}
