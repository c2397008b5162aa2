package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// kubeletData is the symlink Kubernetes swaps atomically to update a
// mounted ConfigMap or Secret; the visible files are links through it.
const kubeletData = "..data"

// watcher reloads the configuration when the config file or the targets
// directory changes. It watches directories, not files: kubelet's swap of
// ..data and editors' rename-on-save replace a file without writing to
// it, which a watch on the file itself would not survive.
type watcher struct {
	configFile string // cleaned
	targetsDir string // cleaned; "" for none
	debounce   time.Duration
	reload     func()
	logger     *slog.Logger
	// after starts a quiet period; time.After outside tests.
	after func(time.Duration) <-chan time.Time
}

// dirs are the directories to watch.
func (w *watcher) dirs() []string {
	dirs := []string{filepath.Dir(w.configFile)}
	if w.targetsDir != "" && w.targetsDir != dirs[0] {
		dirs = append(dirs, w.targetsDir)
	}
	return dirs
}

// relevant says whether an event may change the configuration: the config
// file itself, a targets file, or a kubelet swap in either directory.
// Hidden files (editor swap files, kubelet's timestamped folders) are not.
func (w *watcher) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := filepath.Clean(ev.Name)
	base, dir := filepath.Base(name), filepath.Dir(name)
	switch {
	case base == kubeletData:
		return true
	case name == w.configFile:
		return true
	case dir != w.targetsDir || strings.HasPrefix(base, "."):
		return false
	}
	ext := filepath.Ext(base)
	return ext == ".yml" || ext == ".yaml"
}

// loop runs until ctx is done, and reloads once the events of a burst
// have been quiet for the debounce period.
func (w *watcher) loop(ctx context.Context, events <-chan fsnotify.Event, errs <-chan error) {
	var quiet <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if w.relevant(ev) {
				w.logger.Debug("configuration changed on disk", "file", ev.Name, "op", ev.Op.String())
				quiet = w.after(w.debounce)
			}
		case err, ok := <-errs:
			if !ok {
				return
			}
			w.logger.Warn("watching the configuration", "err", err)
		case <-quiet:
			quiet = nil
			w.logger.Info("configuration files changed, reloading")
			w.reload()
		}
	}
}

// startWatch starts watching the configuration in a goroutine that ends
// with ctx; the returned wait blocks until it has.
func (s *server) startWatch(ctx context.Context) (wait func(), err error) {
	w := &watcher{
		configFile: filepath.Clean(s.flags.configFile),
		debounce:   s.flags.watchDebounce,
		reload:     func() { _ = s.reload() }, // reload logs and records its failure
		logger:     s.logger,
		after:      time.After,
	}
	if s.flags.targetsDir != "" {
		w.targetsDir = filepath.Clean(s.flags.targetsDir)
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching the configuration: %w", err)
	}
	for _, d := range w.dirs() {
		if err := fsw.Add(d); err != nil {
			fsw.Close()
			return nil, fmt.Errorf("watching %s: %w", d, err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer fsw.Close()
		w.loop(ctx, fsw.Events, fsw.Errors)
	}()
	return func() { <-done }, nil
}
