#!/usr/bin/env bash
# deploy/check.sh checks everything under deploy/ and the examples:
#   helm lint --strict and helm template of the chart (standalone and sidecar,
#   each on bbolt and on NATS),
#   every rendered object decoded strictly into its API type (manifests-test),
#   the Alertmanager configurations through amtool check-config,
#   the alerting rules through promtool check rules and promtool test rules,
#   the dashboard and rules naming only metrics am-fanout exports.
#
# The exported metric names come from the real program: set
# AM_FANOUT_METRICS_URL to a running am-fanout's /metrics, or
# AM_FANOUT_METRICS_FILE to a file holding its /metrics output; with
# neither, the script starts ./am-fanout (make build) on the example
# configuration on a loopback port and reads its /metrics.
#
# Tools are installed with go install into GOPATH/bin at pinned versions and
# reused when the right version is already there.
set -euo pipefail

HELM_VERSION=v3.22.0
PROMETHEUS_VERSION=v0.316.0   # Prometheus v3.16.0, for promtool
ALERTMANAGER_VERSION=v0.31.1  # newer tags do not build with go install

cd "$(dirname "$0")/.."
root=$(pwd)

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# snapshot_metrics runs ./am-fanout on the example configuration, posts the
# example payload so that every fan-out series exists, and saves /metrics.
snapshot_metrics() {
  [[ -x ./am-fanout ]] || { echo "deploy/check.sh: ./am-fanout is missing: run make build" >&2; exit 2; }
  cp examples/am-fanout.yml "$out/am-fanout.yml"
  local addr=127.0.0.1:19399 pid
  ./am-fanout --config.file="$out/am-fanout.yml" --storage.path="$out/data" \
    --web.listen-address=$addr >"$out/am-fanout.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do
    curl -fsS "http://$addr/-/ready" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS -H 'Content-Type: application/json' --data-binary @examples/payload.json "http://$addr/webhook" >/dev/null
  curl -fsS "http://$addr/metrics" >"$out/metrics.txt"
  kill "$pid"; wait "$pid" || true
  AM_FANOUT_METRICS_FILE="$out/metrics.txt"
}

if [[ -z "${AM_FANOUT_METRICS_URL:-}" && -z "${AM_FANOUT_METRICS_FILE:-}" ]]; then
  snapshot_metrics
fi

gobin=$(go env GOBIN)
[[ -n "$gobin" ]] || gobin="$(go env GOPATH)/bin"
export PATH="$gobin:$PATH"

# install BINARY PACKAGE MODULE VERSION installs the binary unless the one in
# gobin was built from that module version.
install() {
  local bin=$1 pkg=$2 mod=$3 version=$4
  if [[ -x "$gobin/$bin" ]] && go version -m "$gobin/$bin" | grep -Eq "^[[:space:]]+mod[[:space:]]+$mod[[:space:]]+$version[[:space:]]"; then
    return
  fi
  echo "--- installing $bin $version"
  GOBIN="$gobin" go install "$pkg@$version"
}

install helm helm.sh/helm/v3/cmd/helm helm.sh/helm/v3 "$HELM_VERSION"
install promtool github.com/prometheus/prometheus/cmd/promtool github.com/prometheus/prometheus "$PROMETHEUS_VERSION"
install amtool github.com/prometheus/alertmanager/cmd/amtool github.com/prometheus/alertmanager "$ALERTMANAGER_VERSION"

chart=deploy/helm/am-fanout

echo "--- helm lint --strict"
helm lint --strict "$chart"
helm lint --strict "$chart" -f deploy/sidecar/am-fanout-values.yaml
helm lint --strict "$chart" -f deploy/manifests-test/testdata/standalone-full-values.yaml
helm lint --strict "$chart" -f deploy/manifests-test/testdata/standalone-nats-values.yaml
helm lint --strict "$chart" -f deploy/manifests-test/testdata/sidecar-nats-values.yaml

echo "--- helm template"
helm template am-fanout "$chart" -n monitoring >"$out/standalone.yaml"
helm template am-fanout "$chart" -n monitoring -f deploy/manifests-test/testdata/standalone-full-values.yaml >"$out/standalone-full.yaml"
helm template am-fanout "$chart" -n monitoring -f deploy/sidecar/am-fanout-values.yaml >"$out/sidecar.yaml"
helm template am-fanout "$chart" -n monitoring -f deploy/manifests-test/testdata/standalone-nats-values.yaml >"$out/standalone-nats.yaml"
helm template am-fanout "$chart" -n monitoring -f deploy/manifests-test/testdata/sidecar-nats-values.yaml >"$out/sidecar-nats.yaml"

echo "--- promtool"
promtool check rules deploy/rules/am-fanout.rules.yml "$chart/files/am-fanout.rules.yml"
promtool test rules deploy/rules/am-fanout.rules.test.yml

# The Go test also parses the dashboard JSON and every query in it.
echo "--- manifests, sidecar values, Alertmanager configurations, dashboard, metric names"
if [[ -n "${AM_FANOUT_METRICS_FILE:-}" && "$AM_FANOUT_METRICS_FILE" != /* ]]; then
  AM_FANOUT_METRICS_FILE="$root/$AM_FANOUT_METRICS_FILE"
fi
(
  cd deploy/manifests-test
  HELM="$gobin/helm" AMTOOL="$gobin/amtool" AM_FANOUT_METRICS_FILE="${AM_FANOUT_METRICS_FILE:-}" go test -count=1 ./...
)

echo "deploy/check.sh: all checks passed"
