package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/am-fanout/am-fanout/publish/discord/discordtest"
)

func discordTarget(name, url string) string {
	return fmt.Sprintf("  - name: %s\n    type: discord\n    url: %s\n", name, url)
}

// get fetches path from the fixture's server and returns its body.
func (f *fixture) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := f.http.Client().Get(f.http.URL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", path, body)
	return string(body)
}

// targetState reads a target's state and gone error from /api/v1/targets.
func (f *fixture) targetState(t *testing.T, name string) (state, goneError string) {
	t.Helper()
	var answer struct {
		Targets []struct {
			Name  string `json:"name"`
			State string `json:"state"`
			Gone  *struct {
				Error string `json:"error"`
			} `json:"gone"`
		} `json:"targets"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.get(t, "/api/v1/targets")), &answer))
	for _, tg := range answer.Targets {
		if tg.Name == name {
			if tg.Gone != nil {
				goneError = tg.Gone.Error
			}
			return tg.State, goneError
		}
	}
	t.Fatalf("/api/v1/targets has no target %q", name)
	return "", ""
}

// TestDeletedDiscordWebhookIsGone: once Discord says the webhook is gone,
// the target gets no more requests, its deliveries become dead letters,
// and the status API, the page and the metrics say it is gone, without
// the webhook's token; a reload with the same configuration keeps it
// gone, a new webhook URL sends again.
func TestDeletedDiscordWebhookIsGone(t *testing.T) {
	deleted := discordtest.NewDiscord(t)
	deleted.Delete()
	config := "targets:\n" + discordTarget("chat", deleted.URL())
	f := newFixture(t, config, nil)

	for range 3 {
		code, answer := f.post(t)
		require.Equal(t, http.StatusOK, code, "a gone target is not retried: %s", answer)
	}
	assert.Equal(t, 1, deleted.Requests(), "Discord must see one request to a deleted webhook, not one per alert")

	state, why := f.targetState(t, "chat")
	assert.Equal(t, "gone", state)
	assert.Contains(t, why, "Unknown Webhook")
	for _, path := range []string{"/api/v1/targets", "/metrics", "/", "/api/v1/deadletters"} {
		assert.NotContains(t, f.get(t, path), "WEBHOOKSECRET", "%s reveals the webhook token", path)
	}
	assert.Contains(t, f.get(t, "/metrics"), `am_fanout_target_gone{target="chat"} 1`)
	assert.Contains(t, f.get(t, "/metrics"), `am_fanout_target_skipped_total{skip_reason="target_gone",target="chat",type="discord"} 2`)
	assert.Contains(t, f.get(t, "/"), `data-state="gone"`)

	var dead struct {
		DeadLetters []struct {
			Target, Reason string
			LastError      string `json:"last_error"`
		} `json:"dead_letters"`
	}
	require.NoError(t, json.Unmarshal([]byte(f.get(t, "/api/v1/deadletters?target=chat")), &dead))
	require.Len(t, dead.DeadLetters, 3, "every delivery to the gone target must end as a dead letter, none lost")
	for _, d := range dead.DeadLetters {
		assert.Equal(t, "target is gone", d.Reason)
	}

	require.NoError(t, f.s.reload())
	f.post(t)
	assert.Equal(t, 1, deleted.Requests(), "a reload with the same configuration keeps the target gone")
	state, _ = f.targetState(t, "chat")
	assert.Equal(t, "gone", state)

	replaced := discordtest.NewDiscord(t)
	f.write(t, f.configFile, "targets:\n"+discordTarget("chat", replaced.URL()))
	require.NoError(t, f.s.reload())
	state, _ = f.targetState(t, "chat")
	assert.Equal(t, "active", state, "a new webhook URL is no longer gone")
	code, answer := f.post(t)
	require.Equal(t, http.StatusOK, code, answer)
	assert.Len(t, replaced.Bodies(), 1, "the new webhook gets the next alert")
	assert.Contains(t, f.get(t, "/metrics"), `am_fanout_target_gone{target="chat"} 0`)
}
