//go:build race

package e2e

// raceEnabled builds am-fanout with the race detector when the tests run
// with it, so that a data race in the real process fails the test too.
const raceEnabled = true
