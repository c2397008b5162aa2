// Package jsm is the "jsm" target: alerts created in Jira Service
// Management Operations through its integration events API
// (https://developer.atlassian.com/cloud/jira/service-desk-ops/rest/v1/api-group-integration-events/),
// where Opsgenie's users move: Opsgenie's sale ended in 2025 and its
// REST API stops answering on 2027-04-05.
//
// That API is Opsgenie's Alert API v2 under /jsm/ops/integration: the key
// of a JSM "API" integration as "Authorization: GenieKey <key>", Create
// Alert (POST /jsm/ops/integration/v2/alerts) with Opsgenie's fields, and
// Close Alert by alias (POST .../alerts/{alias}/close?identifierType=alias;
// the page documents identifierType for endpoints that take an id, tiny
// id or alias), answered 202 and processed asynchronously. The page lists
// no limits of its own and no rate limit; am-fanout keeps Opsgenie's
// (package genie) and honours 429 with Retry-After.
//
// With update_alerts, the texts of an open alert are brought up to date
// through JSM's REST API, by alert id and with an Atlassian account's
// email and API token (rest_api; see restUpdater).
//
// The API also offers Acknowledge Alert, which am-fanout never calls: an
// Alertmanager alert has no acknowledged state, and acknowledging stops
// the alert's escalation, which only a person who has seen it should do.
package jsm
