// Package vendorfake holds fakes of the vendor APIs am-fanout publishes
// to: Slack, PagerDuty, Microsoft Teams, Discord, Opsgenie and Rootly.
// Each is a local httptest server that enforces what the vendor documents
// (required fields, sizes, auth, content type) and answers the way the
// vendor does, both when it accepts and when it refuses; so an accepted
// request is one the vendor would have accepted too. Scripted Answers are
// served before any check, to play rate limits and outages.
//
// The package is for tests only: the publish package's tests and the
// end-to-end tests import it, and no non-test code may. The limits here
// are written from the vendors' documentation on purpose, not taken from
// the publishers, so that a wrong limit in a publisher shows.
package vendorfake
