package publish

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// slackThread is the firing message a resolution is threaded under.
type slackThread struct {
	// Channel is the channel ID Slack answered with: chat.update needs
	// the ID, and the target's channel may be a name.
	Channel string    `json:"channel"`
	TS      string    `json:"ts"`
	Expires time.Time `json:"expires"`
}

// slackThreadFile is the store's file format.
type slackThreadFile struct {
	Version int                    `json:"version"`
	Threads map[string]slackThread `json:"threads"`
}

// slackThreads remembers, per alert, the firing message of one bot-mode
// target, so a resolution can answer in its thread even after a restart.
// It is a JSON file under --storage.path named after the target, read on
// every lookup and rewritten atomically (temporary file, fsync, rename) on
// every change, so a second publisher of the same target during a reload
// sees what the first wrote. Entries expire after the target's thread_ttl
// and are dropped at the next write, so the file stays small. With no
// storage path the threads live in memory and do not survive a restart.
type slackThreads struct {
	mu   sync.Mutex
	path string
	ttl  time.Duration
	mem  map[string]slackThread
}

func newSlackThreads(path string, ttl time.Duration) *slackThreads {
	return &slackThreads{path: path, ttl: ttl, mem: map[string]slackThread{}}
}

// slackThreadKey identifies one firing of one alert: a later firing of
// the same alert starts at another time and opens a new thread. The
// target's name is in the store's file name.
func slackThreadKey(a *core.EnrichedAlert) string {
	return a.Alert.Fingerprint + "@" + a.Alert.StartsAt.UTC().Format(time.RFC3339Nano)
}

// get returns the unexpired thread of key.
func (st *slackThreads) get(key string, now time.Time) (slackThread, bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	threads, err := st.load()
	if err != nil {
		return slackThread{}, false, err
	}
	t, ok := threads[key]
	if !ok || !now.Before(t.Expires) {
		return slackThread{}, false, nil
	}
	return t, true, nil
}

// put remembers the thread of key until now+ttl and drops expired ones.
func (st *slackThreads) put(key string, t slackThread, now time.Time) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	threads, err := st.load()
	if err != nil {
		// An unreadable file would otherwise block threading forever:
		// start afresh, the lost entries only cost unthreaded messages.
		threads = map[string]slackThread{}
	}
	maps.DeleteFunc(threads, func(_ string, t slackThread) bool { return !now.Before(t.Expires) })
	t.Expires = now.Add(st.ttl)
	threads[key] = t
	return st.save(threads)
}

func (st *slackThreads) load() (map[string]slackThread, error) {
	if st.path == "" {
		return maps.Clone(st.mem), nil
	}
	data, err := os.ReadFile(st.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]slackThread{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading thread store: %w", err)
	}
	var f slackThreadFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("thread store %s: %w", st.path, err)
	}
	if f.Threads == nil {
		f.Threads = map[string]slackThread{}
	}
	return f.Threads, nil
}

func (st *slackThreads) save(threads map[string]slackThread) error {
	if st.path == "" {
		st.mem = threads
		return nil
	}
	data, err := json.Marshal(slackThreadFile{Version: 1, Threads: threads})
	if err != nil {
		return err
	}
	return slackWriteAtomic(st.path, data)
}

// slackWriteAtomic replaces path with data so that a crash leaves either
// the old or the new content, never a torn file.
func slackWriteAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("thread store: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("thread store: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("thread store: %w", err)
	}
	// The rename is durable only once the directory is synced.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("thread store: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("thread store: %w", err)
	}
	return nil
}
