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

// rootlyAlertIDs remembers the Rootly id of each alert a target created,
// keyed by fingerprint and start time, so that the resolve can name it after
// a restart. It lives in one small JSON file, rewritten atomically (temporary
// file, fsync, rename) on every change; entries expire after a retention
// period so the file cannot grow without bound. An empty path keeps the ids
// in memory only.
type rootlyAlertIDs struct {
	path      string
	retention time.Duration
	now       func() time.Time

	mu      sync.Mutex
	entries map[string]rootlyAlertID
}

type rootlyAlertID struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"`
}

// openRootlyAlertIDs loads the ids stored at path; a missing file is an
// empty store.
func openRootlyAlertIDs(path string, retention time.Duration) (*rootlyAlertIDs, error) {
	s := &rootlyAlertIDs{path: path, retention: retention, now: time.Now, entries: map[string]rootlyAlertID{}}
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading Rootly alert ids: %w", err)
	}
	if err := json.Unmarshal(data, &s.entries); err != nil {
		return nil, fmt.Errorf("reading Rootly alert ids from %s: %w (remove the file to start afresh)", path, err)
	}
	if s.entries == nil {
		s.entries = map[string]rootlyAlertID{}
	}
	return s, nil
}

// lookup returns the id stored for key, if it has not expired.
func (s *rootlyAlertIDs) lookup(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok || !s.now().Before(e.Expires) {
		return "", false
	}
	return e.ID, true
}

// remember stores id for key, drops expired entries and saves.
func (s *rootlyAlertIDs) remember(key, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	maps.DeleteFunc(s.entries, func(_ string, e rootlyAlertID) bool { return !now.Before(e.Expires) })
	s.entries[key] = rootlyAlertID{ID: id, Expires: now.Add(s.retention)}
	return s.save()
}

// forget removes key and saves; forgetting an unknown key writes nothing.
func (s *rootlyAlertIDs) forget(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[key]; !ok {
		return nil
	}
	delete(s.entries, key)
	return s.save()
}

// save writes the entries atomically, so a crash leaves the old file or
// the new one, never a torn one. The caller holds mu.
func (s *rootlyAlertIDs) save() error {
	if s.path == "" {
		return nil
	}
	data, err := json.Marshal(s.entries)
	if err != nil {
		return err
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		// Make the rename itself durable; not every filesystem can.
		_ = d.Sync()
		d.Close()
	}
	return nil
}
