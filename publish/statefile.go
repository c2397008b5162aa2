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
)

// StateFile is the state a publisher keeps across restarts (Slack's
// thread roots, Rootly's alert ids): values keyed by string, in one small
// JSON file under --storage.path. The file is read on every access, so a
// second publisher of the same target during a reload sees what the first
// wrote, and rewritten atomically (temporary file, fsync, rename) on every
// change. Each entry expires ttl after it was put; expired entries are
// dropped at the next write, so the file stays small. An empty path keeps
// the entries in memory, lost on restart.
type StateFile[T any] struct {
	path string
	// what names the state in errors, such as "Slack threads".
	what string
	ttl  time.Duration

	mu  sync.Mutex
	mem map[string]stateEntry[T]
}

// stateEntry is one value and when it expires.
type stateEntry[T any] struct {
	Value   T         `json:"value"`
	Expires time.Time `json:"expires"`
}

// stateFileContent is the file's format.
type stateFileContent[T any] struct {
	Version int                      `json:"version"`
	Entries map[string]stateEntry[T] `json:"entries"`
}

func NewStateFile[T any](path, what string, ttl time.Duration) *StateFile[T] {
	return &StateFile[T]{path: path, what: what, ttl: ttl, mem: map[string]stateEntry[T]{}}
}

// check reads the file once, for publishers that would rather fail when
// built than run on state they cannot read.
func (s *StateFile[T]) Check() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.load()
	return err
}

// get returns the value of key unless it has expired at now.
func (s *StateFile[T]) Get(key string, now time.Time) (T, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var zero T
	entries, err := s.load()
	if err != nil {
		return zero, false, err
	}
	e, ok := entries[key]
	if !ok || !now.Before(e.Expires) {
		return zero, false, nil
	}
	return e.Value, true, nil
}

// put stores v under key until now+ttl, drops expired entries and saves.
func (s *StateFile[T]) Put(key string, v T, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := s.load()
	if err != nil {
		// An unreadable file would otherwise block every later write:
		// start afresh, the entries it held are lost already.
		entries = map[string]stateEntry[T]{}
	}
	maps.DeleteFunc(entries, func(_ string, e stateEntry[T]) bool { return !now.Before(e.Expires) })
	entries[key] = stateEntry[T]{Value: v, Expires: now.Add(s.ttl)}
	return s.save(entries)
}

// delete removes key and saves; deleting an unknown key writes nothing.
func (s *StateFile[T]) Delete(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	entries, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := entries[key]; !ok {
		return nil
	}
	delete(entries, key)
	return s.save(entries)
}

// load reads the entries; a missing file holds none. The caller holds mu.
func (s *StateFile[T]) load() (map[string]stateEntry[T], error) {
	if s.path == "" {
		return maps.Clone(s.mem), nil
	}
	data, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]stateEntry[T]{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", s.what, err)
	}
	var c stateFileContent[T]
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w (remove the file to start afresh)", s.what, s.path, err)
	}
	if c.Entries == nil {
		c.Entries = map[string]stateEntry[T]{}
	}
	return c.Entries, nil
}

// save replaces the entries. The caller holds mu.
func (s *StateFile[T]) save(entries map[string]stateEntry[T]) error {
	if s.path == "" {
		s.mem = entries
		return nil
	}
	data, err := json.Marshal(stateFileContent[T]{Version: 1, Entries: entries})
	if err != nil {
		return fmt.Errorf("writing %s: %w", s.what, err)
	}
	if err := writeFileAtomic(s.path, data); err != nil {
		return fmt.Errorf("writing %s: %w", s.what, err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either
// the old or the new content, never a torn file.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
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
		return err
	}
	// The rename is durable only once the directory is synced; not every
	// filesystem can, and the new content is in place either way.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
