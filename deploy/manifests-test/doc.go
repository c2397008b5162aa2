// Package manifests checks what deploy/ ships: the Helm chart's rendered
// objects decode strictly into the Kubernetes and prometheus-operator API
// types, the sidecar values hold exactly the container the chart renders,
// the example Alertmanager configurations load, and the alerting rules and
// the Grafana dashboard name only metrics am-fanout exports.
package manifests
