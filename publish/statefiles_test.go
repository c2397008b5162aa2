package publish

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish/publishtest"
)

var importNow = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// writeStateFiles lays out a storage path as earlier versions left it,
// with files the import must leave alone.
func writeStateFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// savedState is a SaveState into one publishtest.State per target,
// dropping what has expired at importNow as the store does.
type savedState map[string]*publishtest.State

func (s savedState) save(target string, entries []StateEntry) (int, error) {
	if s[target] == nil {
		s[target] = publishtest.NewState()
	}
	n := 0
	for _, e := range entries {
		if importNow.Before(e.Expires) {
			if err := s[target].Put(context.Background(), e.Key, e.Value, e.Expires.Sub(importNow)); err != nil {
				return 0, err
			}
			n++
		}
	}
	return n, nil
}

func TestImportStateFilesMovesEachFileOnce(t *testing.T) {
	slackKey := FiringKey(publishtest.ChatAlert(false))
	dir := writeStateFiles(t, map[string]string{
		"slack/team-chat.json": `{"version":1,"entries":{"` + slackKey + `":{"value":{"channel":"CALERTS","ts":"1699.1"},"expires":"2026-03-03T00:00:00Z"},` +
			`"old@2026-01-01T00:00:00Z":{"value":{"channel":"C","ts":"1"},"expires":"2026-03-01T00:00:00Z"}}}`,
		"rootly-incidents.json":          `{"version":1,"entries":{"fp@2026-03-01T12:00:00Z":{"value":"alert-7","expires":"2026-05-30T00:00:00Z"}}}`,
		"rootly-done.json.imported":      `{torn`,
		"slack/notes.txt":                `{torn`,
		"outbox.db":                      `not json`,
		"slack/team-chat.json.tmp-12345": `{torn`,
	})
	saved := savedState{}
	var logs bytes.Buffer
	if err := ImportStateFiles(dir, saved.save, publishtest.BufferLogger(&logs)); err != nil {
		t.Fatalf("ImportStateFiles: %v", err)
	}
	for _, tc := range []struct {
		name, target, key, want string
		ttl                     time.Duration
	}{
		{"a Slack thread keeps its JSON and expiry", "team-chat", slackKey, `{"channel":"CALERTS","ts":"1699.1"}`, 24 * time.Hour},
		{"an expired Slack thread is dropped", "team-chat", "old@2026-01-01T00:00:00Z", "", 0},
		{"a Rootly alert id is its string", "incidents", "fp@2026-03-01T12:00:00Z", "alert-7", 89 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := saved[tc.target]
			if st == nil {
				t.Fatalf("nothing saved for target %q", tc.target)
			}
			got, _, _ := st.Get(context.Background(), tc.key)
			if string(got) != tc.want || st.TTLOf(tc.key) != tc.ttl {
				t.Errorf("saved %q for %v, want %q for %v", got, st.TTLOf(tc.key), tc.want, tc.ttl)
			}
		})
	}
	if len(saved) != 2 {
		t.Errorf("saved state for %d targets, want 2 (other files are not state files)", len(saved))
	}
	for _, name := range []string{"slack/team-chat.json", "rootly-incidents.json"} {
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s is still there after its import", name)
		}
		if _, err := os.Stat(path + ".imported"); err != nil {
			t.Errorf("%s was not renamed .imported: %v", name, err)
		}
		if !strings.Contains(logs.String(), path) {
			t.Errorf("the import of %s was not logged:\n%s", name, logs.String())
		}
	}

	again := savedState{}
	if err := ImportStateFiles(dir, again.save, publishtest.BufferLogger(&logs)); err != nil || len(again) != 0 {
		t.Errorf("a second import saved %d targets, err %v; want none: each file is imported once", len(again), err)
	}
}

// TestImportStateFilesLosesNothing: a file that cannot be read or saved
// stays where it is and the import says why.
func TestImportStateFilesLosesNothing(t *testing.T) {
	for _, tc := range []struct {
		name    string
		content string
		save    SaveState
		says    string
	}{
		{"a torn file", `{"version":1,"entr`, savedState{}.save, "move the file away"},
		{"a Rootly id that is not a string", `{"version":1,"entries":{"k":{"value":7,"expires":"2999-01-01T00:00:00Z"}}}`, savedState{}.save, `entry "k"`},
		{"a store that fails", `{"version":1,"entries":{}}`, func(string, []StateEntry) (int, error) { return 0, errors.New("disk full") }, "disk full"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeStateFiles(t, map[string]string{"rootly-r.json": tc.content})
			path := filepath.Join(dir, "rootly-r.json")
			err := ImportStateFiles(dir, tc.save, publishtest.BufferLogger(new(bytes.Buffer)))
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("ImportStateFiles = %v, want an error naming %s and saying %q", err, path, tc.says)
			}
			if data, _ := os.ReadFile(path); string(data) != tc.content {
				t.Errorf("the file is now %q, want it left as it was", data)
			}
		})
	}
}
