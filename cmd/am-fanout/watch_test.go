package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWatcherRelevantEvents(t *testing.T) {
	w := &watcher{configFile: "/etc/am-fanout/am-fanout.yml", targetsDir: "/etc/am-fanout/targets"}
	tests := []struct {
		name string
		ev   fsnotify.Event
		want bool
	}{
		{"config file written", fsnotify.Event{Name: "/etc/am-fanout/am-fanout.yml", Op: fsnotify.Write}, true},
		{"config file renamed over (editor save)", fsnotify.Event{Name: "/etc/am-fanout/am-fanout.yml", Op: fsnotify.Create}, true},
		{"kubelet swap next to the config file", fsnotify.Event{Name: "/etc/am-fanout/..data", Op: fsnotify.Create}, true},
		{"kubelet swap in the targets directory", fsnotify.Event{Name: "/etc/am-fanout/targets/..data", Op: fsnotify.Create}, true},
		{"targets file created", fsnotify.Event{Name: "/etc/am-fanout/targets/team.yaml", Op: fsnotify.Create}, true},
		{"targets file removed", fsnotify.Event{Name: "/etc/am-fanout/targets/team.yml", Op: fsnotify.Remove}, true},
		{"other file next to the config file", fsnotify.Event{Name: "/etc/am-fanout/notes.yml", Op: fsnotify.Write}, false},
		{"non-YAML file in the targets directory", fsnotify.Event{Name: "/etc/am-fanout/targets/README", Op: fsnotify.Write}, false},
		{"editor swap file", fsnotify.Event{Name: "/etc/am-fanout/targets/.team.yml.swp", Op: fsnotify.Write}, false},
		{"kubelet timestamped folder", fsnotify.Event{Name: "/etc/am-fanout/targets/..2026_01_01_00_00_00.1", Op: fsnotify.Create}, false},
		{"permissions changed", fsnotify.Event{Name: "/etc/am-fanout/am-fanout.yml", Op: fsnotify.Chmod}, false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, w.relevant(tt.ev), tt.name)
	}
}

// TestWatcherDebounces drives the loop with events and quiet periods the
// test controls: a burst of events ends in one reload, after the last
// event's quiet period, never an earlier one's.
func TestWatcherDebounces(t *testing.T) {
	events := make(chan fsnotify.Event)
	quiets := make(chan chan time.Time, 100)
	reloads := make(chan struct{}, 100)
	w := &watcher{
		configFile: "/c/am-fanout.yml", logger: slog.New(slog.DiscardHandler),
		reload: func() { reloads <- struct{}{} },
		after: func(time.Duration) <-chan time.Time {
			c := make(chan time.Time, 1)
			quiets <- c
			return c
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.loop(ctx, events, nil) }()

	var started []chan time.Time
	for range 5 {
		events <- fsnotify.Event{Name: "/c/am-fanout.yml", Op: fsnotify.Write}
		started = append(started, <-quiets)
	}
	events <- fsnotify.Event{Name: "/c/unrelated", Op: fsnotify.Write}
	started[0] <- time.Now() // an earlier quiet period ending must not reload
	started[4] <- time.Now()
	<-reloads
	events <- fsnotify.Event{Name: "/c/am-fanout.yml", Op: fsnotify.Write} // the loop is past the reload
	cancel()
	<-done
	assert.Empty(t, reloads, "a burst of events must reload once")
	assert.Len(t, quiets, 1, "only relevant events start a quiet period")
}

// kubeletSwap points dir/..data at a new timestamped folder holding
// files, the way kubelet updates a mounted Secret, and links every file
// name through ..data.
func kubeletSwap(t *testing.T, dir, stamp string, files map[string]string) {
	t.Helper()
	data := filepath.Join(dir, stamp)
	require.NoError(t, os.Mkdir(data, 0o755))
	for name, content := range files {
		require.NoError(t, os.WriteFile(filepath.Join(data, name), []byte(content), 0o600))
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); os.IsNotExist(err) {
			require.NoError(t, os.Symlink(filepath.Join("..data", name), link))
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	require.NoError(t, os.Symlink(stamp, tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(dir, "..data")))
}

func TestWatcherReloadsOnFileChanges(t *testing.T) {
	a, b := newSink(t, 200), newSink(t, 200)
	f := newFixture(t, "targets:\n"+webhookTarget("main", a.srv.URL), nil)
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := f.s.startWatch(ctx)
	require.NoError(t, err)
	defer wait()
	defer cancel()
	reloaded := func(names ...string) func() bool {
		return func() bool {
			return assert.ObjectsAreEqual(names, f.names()) && f.s.Status().LastReload.Success
		}
	}

	f.write(t, filepath.Join(f.targetsDir, "team.yml"), "targets:\n"+webhookTarget("team", b.srv.URL))
	waitUntil(t, "a dropped targets file to be loaded", reloaded("main", "team"))

	kubeletSwap(t, f.targetsDir, "..2026_01_01_00_00_00.1", map[string]string{"secret.yaml": "targets:\n" + webhookTarget("from-secret", b.srv.URL)})
	waitUntil(t, "a kubelet-mounted Secret to be loaded", reloaded("from-secret", "main", "team"))
	kubeletSwap(t, f.targetsDir, "..2026_01_01_00_01_00.2", map[string]string{"secret.yaml": "targets:\n" + webhookTarget("rotated", b.srv.URL)})
	waitUntil(t, "kubelet's ..data swap to be seen", reloaded("main", "rotated", "team"))

	// An editor saves by writing a new file and renaming it over the old.
	tmp := filepath.Join(f.dir, ".am-fanout.yml.tmp")
	f.write(t, tmp, "targets:\n"+webhookTarget("renamed", a.srv.URL))
	require.NoError(t, os.Rename(tmp, f.configFile))
	waitUntil(t, "a renamed-over config file to be loaded", reloaded("renamed", "rotated", "team"))

	f.write(t, filepath.Join(f.targetsDir, "team.yml"), "targets:\n  - name: team\n    type: nope\n")
	waitUntil(t, "a broken file to fail the reload", func() bool { return !f.s.Status().LastReload.Success })
	assert.Contains(t, f.s.Status().LastReload.Error, "team.yml:3:", "the failure must name the file and line")
	assert.Equal(t, []string{"renamed", "rotated", "team"}, f.names(), "a failed reload keeps the previous targets")
}
