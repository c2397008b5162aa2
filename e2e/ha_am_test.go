package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/am-fanout/am-fanout/outbox/jetstreamtest"
	"github.com/am-fanout/am-fanout/publish/slack/slacktest"
)

// These tests run am-fanout as Alertmanager's HA pair runs it: two
// Alertmanagers gossiping on loopback, each with its own am-fanout
// replica, both replicas on one three-node JetStream cluster. Clients
// post every alert to both Alertmanagers, as Prometheus does.

// haFanoutConfig is a replica on the NATS cluster (%[1]s) with these
// targets (%[2]s). Failing targets are retried fast and breakers reopen
// soon, so that a backlog drains within the test.
const haFanoutConfig = `
defaults:
  breaker: {failures: 5, open_for: 200ms}
fanout:
  health_strategy: publish_to_all
outbox:
  retry_base: 10ms
  retry_cap: 200ms
storage:
  backend: nats
  nats:
    servers: [%[1]s]
    replicas: 3
    lease_ttl: 3s
targets:
%[2]s`

// haWebhookTarget is a webhook target, one alert a request.
const haWebhookTarget = `
  - name: hook
    type: webhook
    url: %s
    format: alertmanager
`

// haPacedTarget is a webhook target for the alerts labelled paced="yes",
// paced to haPace a second after a burst of haBurst.
const haPacedTarget = `
  - name: paced
    type: webhook
    url: %s
    format: alertmanager
    match: ['paced="yes"']
    rate_limit: {per_second: 20, burst: 5}
`

const haPace, haBurst = 20, 5

// haAlertmanagerConfig sends the alerts of each shard as one group to
// am-fanout (%s), a second after the group's first alert and every
// second while it changes.
const haAlertmanagerConfig = `
route:
  receiver: am-fanout
  group_by: [alertname, shard]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 4h
receivers:
  - name: am-fanout
    webhook_configs:
      - url: %s/webhook
        send_resolved: true
`

// haEnv is the NATS cluster, two replicas and, unless left out, their
// Alertmanagers: ams[i] sends to replicas[i].
type haEnv struct {
	nats     *jetstreamtest.Cluster
	replicas [2]*fanoutServer
	ams      [2]*alertmanager
}

// startHAReplicas starts the NATS cluster and two replicas with these
// targets; the first runs the lanes before the second starts.
func startHAReplicas(t *testing.T, targets string) *haEnv {
	t.Helper()
	e := &haEnv{nats: jetstreamtest.Start(t, 3)}
	config := fmt.Sprintf(haFanoutConfig, strings.Join(e.nats.URLs(0), ", "), targets)
	e.replicas[0] = startFanout(t, config, "--log.level=info")
	waitFor(t, waitTimeout, "the first replica to run the lanes", func() (bool, string) {
		return e.leader(t) == 0, "am_fanout_lanes_leader is not 1"
	})
	e.replicas[1] = startFanout(t, config, "--log.level=info")
	return e
}

// startHA is startHAReplicas with an Alertmanager HA pair in front.
func startHA(t *testing.T, targets string) *haEnv {
	t.Helper()
	e := startHAReplicas(t, targets)
	// Each gossip port is picked for each attempt to start its
	// Alertmanager: a port free a moment ago may be taken by then. The
	// second joins the first, which learns of it by that join.
	var first string
	for i := range e.ams {
		e.ams[i] = runAlertmanager(t, fmt.Sprintf(haAlertmanagerConfig, e.replicas[i].url), func() []string {
			gossip := freeLoopbackAddr(t)
			flags := []string{"--cluster.listen-address=" + gossip, "--cluster.peer-timeout=2s",
				// Gossip settles within ten intervals: 0.5s, not 2s.
				"--cluster.gossip-interval=50ms"}
			if i == 0 {
				first = gossip
				return flags
			}
			return append(flags, "--cluster.peer="+first)
		})
	}
	for _, am := range e.ams {
		waitFor(t, waitTimeout, "the Alertmanagers to see each other", func() (bool, string) {
			status, peers := am.clusterStatus(t)
			return status == "ready" && peers == 2, fmt.Sprintf("%s: cluster %q with %d peers", am.url, status, peers)
		})
	}
	return e
}

// clusterStatus is the gossip cluster's status and peer count in
// GET /api/v2/status.
func (am *alertmanager) clusterStatus(t *testing.T) (string, int) {
	t.Helper()
	resp, err := client.Get(am.url + "/api/v2/status")
	if err != nil {
		t.Fatalf("GET /api/v2/status: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Cluster struct {
			Status string            `json:"status"`
			Peers  []json.RawMessage `json:"peers"`
		} `json:"cluster"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("GET /api/v2/status: %v", err)
	}
	return body.Cluster.Status, len(body.Cluster.Peers)
}

// leader is the replica whose am_fanout_lanes_leader is 1, or -1; a dead
// replica is not asked.
func (e *haEnv) leader(t *testing.T) int {
	t.Helper()
	found := -1
	for i, f := range e.replicas {
		if f == nil || f.proc.hasExited() {
			continue
		}
		if v, _ := metricValue(f.metrics(t), "am_fanout_lanes_leader", nil); v == 1 {
			if found >= 0 {
				t.Fatalf("replicas %d and %d both say they run the lanes", found, i)
			}
			found = i
		}
	}
	return found
}

// kill ends a replica with SIGKILL.
func (e *haEnv) kill(i int) {
	_ = e.replicas[i].proc.cmd.Process.Signal(syscall.SIGKILL)
	<-e.replicas[i].proc.exited
}

// haAlerts are n alerts of one name over ten groups (label shard), one in
// ten labelled paced="yes". They all started at one time, which the
// client sends to both Alertmanagers, as Prometheus does, so that both
// notify the same firing.
func haAlerts(name string, n int) []postableAlert {
	startsAt := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	alerts := make([]postableAlert, n)
	for i := range alerts {
		paced := "no"
		if i%10 == 0 {
			paced = "yes"
		}
		alerts[i] = postableAlert{StartsAt: startsAt, Labels: map[string]string{
			"alertname": name, "shard": fmt.Sprint(i / 10 % 10), "paced": paced, "instance": fmt.Sprintf("i%04d", i),
		}}
	}
	return alerts
}

// postToBoth posts the alerts to both Alertmanagers in batches, one batch
// every pause; before the batch numbered at it runs mid.
func (e *haEnv) postToBoth(t *testing.T, alerts []postableAlert, batch int, pause time.Duration, at int, mid func()) {
	t.Helper()
	for b := 0; b*batch < len(alerts); b++ {
		if b == at && mid != nil {
			mid()
		}
		part := alerts[b*batch : min((b+1)*batch, len(alerts))]
		for _, am := range e.ams {
			am.postAlerts(t, part...)
		}
		time.Sleep(pause)
	}
}

// waitAll waits until the sink got n distinct alerts.
func waitAll(t *testing.T, s *countingSink, n int, timeout time.Duration, what string) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%d alerts at %s", n, what), func() (bool, string) {
		got, _, _ := s.counts()
		return got >= n, fmt.Sprintf("%d arrived", got)
	})
}

// webhookAnswers sums am_fanout_webhook_requests_total by code over the
// replicas still running.
func (e *haEnv) webhookAnswers(t *testing.T) (ok, unavailable float64) {
	t.Helper()
	for _, f := range e.replicas {
		if f.proc.hasExited() {
			continue
		}
		fams := f.metrics(t)
		v, _ := metricValue(fams, "am_fanout_webhook_requests_total", map[string]string{"code": "200"})
		ok += v
		v, _ = metricValue(fams, "am_fanout_webhook_requests_total", map[string]string{"code": "503"})
		unavailable += v
	}
	return ok, unavailable
}

// TestHAAlertmanagerPairStream: 2000 alerts posted to both Alertmanagers
// of an HA pair, each notifying its own replica. Every alert reaches the
// webhook target and the paced one (one in ten), and the paced target
// never sees more than its pace: one replica runs the lanes.
func TestHAAlertmanagerPairStream(t *testing.T) {
	const n = 2000
	hook, paced := newCountingSink(t), newCountingSink(t)
	e := startHA(t, fmt.Sprintf(haWebhookTarget, hook.srv.URL)+fmt.Sprintf(haPacedTarget, paced.srv.URL))

	posted := time.Now()
	e.postToBoth(t, haAlerts("E2EHAStream", n), 100, 100*time.Millisecond, -1, nil)
	// The waits only bound the test (the times are logged below): on a
	// loaded machine the three-node JetStream cluster can take longer
	// than Alertmanager's notify timeout to commit, and the refused
	// groups come again at Alertmanager's next group interval.
	waitAll(t, hook, n, 3*time.Minute, "the webhook target")
	hookTook := time.Since(posted)
	waitAll(t, paced, n/10, 3*time.Minute, "the paced target")
	pacedTook := time.Since(posted)
	// A repeat would come within a group interval and an attempt.
	time.Sleep(2 * time.Second)

	_, hookTwice, _ := hook.counts()
	_, pacedTwice, _ := paced.counts()
	most, over := paced.busiestSecond(haPace + haBurst)
	ok, unavailable := e.webhookAnswers(t)
	t.Logf("%d alerts to both Alertmanagers: all at the webhook %s after the first POST, the %d paced ones after %s; %d alerts delivered twice to the webhook, %d to the paced target; the paced target's busiest second had %d requests (pace %d, burst %d); the replicas answered %v notifications 200, %v 503",
		n, hookTook.Round(time.Millisecond), n/10, pacedTook.Round(time.Millisecond), hookTwice, pacedTwice, most, haPace, haBurst, ok, unavailable)
	// At-least-once: an alert repeats only if its attempt was in flight
	// when the lease changed hands, as the next leader cannot know that
	// the target took it; a lane has at most fanout.max_concurrent (10)
	// in flight. Nothing here makes the lease change, so any repeat is
	// the pipeline's.
	if hookTwice+pacedTwice != 0 {
		t.Errorf("%d alerts delivered twice, want none: the Alertmanagers' notifications of one alert are one delivery", hookTwice+pacedTwice)
	}
	if over != 0 {
		t.Errorf("the paced target saw %d seconds with more than %d requests (the busiest %d), want none: only the lanes' leader sends, at its pace", over, haPace+haBurst, most)
	}
	if leader := e.leader(t); leader < 0 {
		t.Error("no replica runs the lanes at the end")
	}
}

// TestHAReplicaKilledWithItsDisk: the webhook target is down while the
// stream comes; halfway, the replica running the lanes is killed with -9
// and its storage folder deleted. Its Alertmanager keeps notifying a dead
// address; the peer's replica gets the notifications and takes the lanes.
// Once the target recovers, every alert arrives, none twice.
func TestHAReplicaKilledWithItsDisk(t *testing.T) {
	const n = 600
	hook := newCountingSink(t)
	hook.status.Store(http.StatusServiceUnavailable)
	e := startHA(t, fmt.Sprintf(haWebhookTarget, hook.srv.URL))

	killed := -1
	e.postToBoth(t, haAlerts("E2EHAKill", n), 50, 100*time.Millisecond, 6, func() {
		if killed = e.leader(t); killed < 0 {
			t.Fatal("no replica runs the lanes (am_fanout_lanes_leader)")
		}
		e.kill(killed)
		if err := os.RemoveAll(e.replicas[killed].dir); err != nil {
			t.Fatal(err)
		}
	})
	survivor := 1 - killed
	waitFor(t, waitTimeout, "the surviving replica to take the lanes", func() (bool, string) {
		return e.leader(t) == survivor, "it does not run them"
	})
	hook.status.Store(http.StatusOK)
	recovered := time.Now()
	waitAll(t, hook, n, time.Minute, "the recovered target")
	_, twice, last := hook.counts()
	ok, unavailable := e.webhookAnswers(t)
	t.Logf("replica %d (the lanes' leader) killed with -9 and its storage deleted after 300 of %d alerts while the target was down: all %d delivered %s after the target recovered, %d twice; the survivor answered %v notifications 200, %v 503",
		killed, n, n, last.Sub(recovered).Round(time.Millisecond), twice, ok, unavailable)
	// Every attempt before the recovery was refused, and the recovery
	// came after the kill: no attempt the target took was in flight at
	// the lease change.
	if twice != 0 {
		t.Errorf("%d alerts delivered twice, want none", twice)
	}
}

// haStreams are the streams and buckets (streams KV_<bucket>) of the
// store's default prefix.
var haStreams = []string{"am-fanout-pending", "am-fanout-dead", "KV_am-fanout-latest", "KV_am-fanout-done",
	"KV_am-fanout-retry", "KV_am-fanout-history", "KV_am-fanout-state", "KV_am-fanout-lease", "KV_am-fanout-lanes"}

// TestHANATSNodeLostMidStream: halfway through a stream to both
// Alertmanagers, the NATS node leading the pending deliveries' stream is
// shut down. Nothing accepted is lost; the replicas answer 503 only
// until the other two nodes have elected new leaders (and the requests
// then in flight are answered), so that Alertmanager resends.
func TestHANATSNodeLostMidStream(t *testing.T) {
	const n = 600
	hook := newCountingSink(t)
	e := startHA(t, fmt.Sprintf(haWebhookTarget, hook.srv.URL))

	lost := -1
	var killed, reElected time.Time
	var okAtKill, unavailableAtKill, unavailableAtElection float64
	e.postToBoth(t, haAlerts("E2EHANode", n), 50, 100*time.Millisecond, 6, func() {
		if lost = e.nats.StreamLeader("am-fanout-pending", []int{0, 1, 2}); lost < 0 {
			t.Fatal("no NATS node leads the pending stream")
		}
		okAtKill, unavailableAtKill = e.webhookAnswers(t)
		killed = time.Now()
		e.nats.StopNode(lost)
		var alive []int
		for i := range e.nats.Nodes {
			if i != lost {
				alive = append(alive, i)
			}
		}
		waitFor(t, waitTimeout, "the two nodes left to elect a leader of every stream", func() (bool, string) {
			for _, s := range haStreams {
				if e.nats.StreamLeader(s, alive) < 0 {
					return false, s + " has no leader"
				}
			}
			return true, ""
		})
		reElected = time.Now()
		_, unavailableAtElection = e.webhookAnswers(t)
	})
	// A request in flight at the election may still end in a 503 within
	// the store's request timeout (10s), while the stream goes on; once
	// it ended, none may.
	_, unavailableAfter := e.webhookAnswers(t)
	waitAll(t, hook, n, time.Minute, "the webhook target")
	ok, unavailable := e.webhookAnswers(t)
	_, twice, _ := hook.counts()
	t.Logf("NATS node %d (leading the pending stream) shut down after 300 of %d alerts, new leaders of every stream %s later: all %d delivered, %d twice; the replicas answered %v notifications 200 and %v 503 before the loss, %v 200 and %v 503 after it (%v of them after the election, %v after the stream ended)",
		lost, n, reElected.Sub(killed).Round(time.Millisecond), n, twice, okAtKill, unavailableAtKill,
		ok-okAtKill, unavailable-unavailableAtKill, unavailable-unavailableAtElection, unavailable-unavailableAfter)
	if ok <= okAtKill {
		t.Errorf("the replicas answered no notification 200 after the node was lost, want them to keep accepting")
	}
	if unavailable > unavailableAfter {
		t.Errorf("%v notifications answered 503 after the stream ended, %s after the new leaders were elected, want none", unavailable-unavailableAfter, time.Since(reElected).Round(time.Millisecond))
	}
	// At-least-once: the store's lease may change hands while its bucket
	// re-elects; each change repeats at most the attempts then in flight,
	// fanout.max_concurrent (10).
	if twice > 10 {
		t.Errorf("%d alerts delivered twice, want at most the 10 attempts in flight at one lease change", twice)
	}
}

// haSlackTargets are two bot-mode Slack targets: one message per group,
// kept up to date and answered in its thread, and one message per alert,
// whose resolution is a reply in the firing's thread.
const haSlackTargets = `
  - name: chat-group
    type: slack
    token: %[2]s
    channel: '#ha-group'
    api_url: %[1]s
  - name: chat-alert
    type: slack
    token: %[2]s
    channel: '#ha-alert'
    api_url: %[1]s
    group_by: alert
`

const haSlackToken = "xoxb-e2e-ha-token"

// TestHAResolveThroughTheOtherReplica: replica A, running the lanes,
// posts a firing to Slack and keeps its thread in the shared store; A is
// killed with -9, and the resolve, sent to replica B, lands in the
// firing's thread once B has taken the lanes.
func TestHAResolveThroughTheOtherReplica(t *testing.T) {
	slack := slacktest.NewSlack(t, haSlackToken)
	e := startHAReplicas(t, fmt.Sprintf(haSlackTargets, slack.APIURL(), haSlackToken))
	labels := map[string]string{"alertname": "E2EHASlack", "severity": "critical", "instance": "db-1"}
	ls := model.LabelSet{}
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	alert := []crashAlert{{fp: ls.Fingerprint().String(), labels: labels, startsAt: time.Now().Add(-time.Minute).UTC().Truncate(time.Second)}}
	post := func(f *fanoutServer, status string) {
		t.Helper()
		if code, _, _, raw := f.postWebhook(t, crashPayload(t, status, alert)); code != http.StatusOK {
			t.Fatalf("POST /webhook to %s answered %d: %s", f.url, code, raw)
		}
	}
	// firings are the messages each target posted, by channel ID: the
	// first post to its channel.
	firings := map[string]string{}
	post(e.replicas[0], "firing")
	waitFor(t, waitTimeout, "the firing in both channels", func() (bool, string) {
		for _, c := range slack.Calls() {
			if _, seen := firings[channelOf(c)]; !seen && c.Path == "/api/chat.postMessage" {
				firings[channelOf(c)] = c.TS
			}
		}
		return len(firings) == 2, fmt.Sprintf("firing messages %v", firings)
	})
	if leader := e.leader(t); leader != 0 {
		t.Fatalf("replica %d runs the lanes after the firing was delivered, want A (0), which ran them before", leader)
	}
	firingCalls := len(slack.Calls())

	e.kill(0)
	killed := time.Now()
	post(e.replicas[1], "resolved")
	replies := map[string]slacktest.SlackCall{}
	waitFor(t, waitTimeout, "the resolve in both channels", func() (bool, string) {
		for _, c := range slack.Calls()[firingCalls:] {
			if c.Path == "/api/chat.postMessage" {
				replies[channelOf(c)] = c
			}
		}
		return len(replies) == 2, fmt.Sprintf("%d calls after the firing, replies %d", len(slack.Calls())-firingCalls, len(replies))
	})
	took := time.Since(killed)
	var paths []string
	for _, c := range slack.Calls() {
		paths = append(paths, fmt.Sprintf("%s %s thread_ts=%v ts=%s", c.Path, c.Msg["channel"], c.Msg["thread_ts"], c.TS))
	}
	t.Logf("firing posted by replica A (lanes' leader), A killed with -9, the resolve sent to replica B: both replies in Slack %s after the kill (lease TTL 3s); calls: %s",
		took.Round(time.Millisecond), strings.Join(paths, "; "))
	for channel, ts := range firings {
		if got := replies[channel].Msg["thread_ts"]; got != ts {
			t.Errorf("the resolve in %s has thread_ts %v, want the firing's ts %s: it must answer in the firing's thread", channel, got, ts)
		}
		if !strings.Contains(string(replies[channel].Body), "RESOLVED") {
			t.Errorf("the reply in %s does not say RESOLVED: %s", channel, replies[channel].Body)
		}
	}
	if !slices.ContainsFunc(slack.Calls()[firingCalls:], func(c slacktest.SlackCall) bool {
		return c.Path == "/api/chat.update" && c.TS == firings[slacktest.ChannelID("ha-group")]
	}) {
		t.Errorf("the group message %s was not updated to resolved", firings[slacktest.ChannelID("ha-group")])
	}
	if leader := e.leader(t); leader != 1 {
		t.Errorf("replica %d runs the lanes, want B (1), the survivor", leader)
	}
}

// channelOf is the ID of the channel a Slack call was made to, whether it
// named the channel or gave its ID.
func channelOf(c slacktest.SlackCall) string {
	ch, _ := c.Msg["channel"].(string)
	if strings.HasPrefix(ch, "#") {
		return slacktest.ChannelID(strings.TrimPrefix(ch, "#"))
	}
	return ch
}
