package slack

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
	"github.com/am-fanout/am-fanout/publish/slack/slacktest"
)

// TestImportedSlackThreadIsFollowed: a thread root imported from the
// state file of an earlier version is where the resolution is posted.
func TestImportedSlackThreadIsFollowed(t *testing.T) {
	f := slacktest.NewSlack(t, slackTestToken)
	// The firing message, posted by an earlier version.
	if err := newSlackBotTest(t, f, publishtest.NewState(), false, nil).Publish(context.Background(), publishtest.ChatAlert(false)); err != nil {
		t.Fatal(err)
	}
	key := publish.FiringKey(publishtest.ChatAlert(false))
	dir := t.TempDir()
	old := filepath.Join(dir, "slack", "slack-bot.json")
	if err := os.MkdirAll(filepath.Dir(old), 0o700); err != nil {
		t.Fatal(err)
	}
	content := `{"version":1,"entries":{"` + key + `":{"value":{"channel":"CALERTS","ts":"1700000000.000001"},"expires":"2999-01-01T00:00:00Z"}}}`
	if err := os.WriteFile(old, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	saved := map[string]*publishtest.State{}
	save := func(target string, entries []publish.StateEntry) (int, error) {
		saved[target] = publishtest.NewState()
		for _, e := range entries {
			if err := saved[target].Put(context.Background(), e.Key, e.Value, time.Until(e.Expires)); err != nil {
				return 0, err
			}
		}
		return len(entries), nil
	}
	if err := publish.ImportStateFiles(dir, save, publishtest.BufferLogger(new(bytes.Buffer))); err != nil {
		t.Fatal(err)
	}
	if saved["slack-bot"] == nil {
		t.Fatalf("the import saved state for %d other targets, none for slack-bot", len(saved))
	}
	p := newSlackBotTest(t, f, saved["slack-bot"], false, nil)
	if err := p.Publish(context.Background(), publishtest.ChatAlert(true)); err != nil {
		t.Fatal(err)
	}
	if c := f.Calls()[1]; c.Msg["channel"] != "CALERTS" || c.Msg["thread_ts"] != "1700000000.000001" {
		t.Errorf("resolution posted to %v thread %v, want the imported thread", c.Msg["channel"], c.Msg["thread_ts"])
	}
}
