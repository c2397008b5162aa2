// Package jsmtest is a fake of the integration events API of Jira Service
// Management Operations for tests.
package jsmtest

import (
	"testing"

	"github.com/am-fanout/am-fanout/publish/genie/genietest"
)

// JSM is the Alert API fake serving JSM's integration paths
// (https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v1/api-group-integration-events/).
type JSM = genietest.Fake

// Call is a request the JSM fake accepted.
type Call = genietest.Call

// NewJSM starts a JSM fake that accepts the integration's API key key at
// /jsm/ops/integration/v2/alerts; it stops when the test ends.
func NewJSM(t testing.TB, key string) *JSM {
	return genietest.New(t, key, "/jsm/ops/integration/v2/alerts")
}
