// Package opsgenietest is a fake of Opsgenie's Alert API v2 for tests.
package opsgenietest

import (
	"testing"

	"github.com/am-fanout/am-fanout/publish/genie/genietest"
)

// Opsgenie is the Alert API fake serving Opsgenie's paths.
type Opsgenie = genietest.Fake

// OpsgenieCall is a request the Opsgenie fake accepted.
type OpsgenieCall = genietest.Call

// NewOpsgenie starts an Opsgenie fake that accepts the API key key at
// /v2/alerts; it stops when the test ends.
func NewOpsgenie(t testing.TB, key string) *Opsgenie {
	return genietest.New(t, key, "/v2/alerts")
}
