// Package e2e holds am-fanout's end-to-end tests: the real binary behind a
// real Alertmanager (v0.31.1, installed with go install and kept in bin/),
// delivering to local HTTP and file targets. Everything listens on loopback
// only, and every process a test starts is stopped when the test ends.
package e2e
