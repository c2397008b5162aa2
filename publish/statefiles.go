package publish

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// StateEntry is one entry of a publisher's state and when it expires.
type StateEntry struct {
	Key     string
	Value   []byte
	Expires time.Time
}

// SaveState stores the entries of target that have not expired, all or
// none, and returns how many it stored.
type SaveState func(target string, entries []StateEntry) (int, error)

// ImportStateFiles moves the state files of earlier versions, which kept
// each publisher's state in a JSON file under the storage path, into the
// store: Slack's thread roots from slack/<target>.json and Rootly's alert
// ids from rootly-<target>.json. Each file is renamed <name>.imported once
// saved, so it is imported once and kept for inspection. A file that
// cannot be read is an error naming it; it is never skipped silently.
func ImportStateFiles(dir string, save SaveState, logger *slog.Logger) error {
	slack, err := stateFiles(filepath.Join(dir, "slack"), "")
	if err != nil {
		return err
	}
	rootly, err := stateFiles(dir, "rootly-")
	if err != nil {
		return err
	}
	for target, path := range slack {
		if err := importStateFile(path, target, rawJSON, save, logger); err != nil {
			return err
		}
	}
	for target, path := range rootly {
		if err := importStateFile(path, target, jsonString, save, logger); err != nil {
			return err
		}
	}
	return nil
}

// stateFiles finds the files <prefix><target>.json in dir, by target; a
// missing dir holds none.
func stateFiles(dir, prefix string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking for publisher state files: %w", err)
	}
	out := map[string]string{}
	for _, e := range entries {
		name := e.Name()
		target, ok := strings.CutPrefix(strings.TrimSuffix(name, ".json"), prefix)
		if e.Type().IsRegular() && ok && target != "" && strings.HasSuffix(name, ".json") {
			out[target] = filepath.Join(dir, name)
		}
	}
	return out, nil
}

// stateFileContent is the format of the state files of earlier versions.
type stateFileContent struct {
	Entries map[string]struct {
		Value   json.RawMessage `json:"value"`
		Expires time.Time       `json:"expires"`
	} `json:"entries"`
}

func importStateFile(path, target string, value func(json.RawMessage) ([]byte, error), save SaveState, logger *slog.Logger) error {
	entries, err := readStateFile(path, value)
	if err != nil {
		return fmt.Errorf("importing the publisher state file %s: %w (move the file away to start without it)", path, err)
	}
	n, err := save(target, entries)
	if err == nil {
		err = os.Rename(path, path+".imported")
	}
	if err != nil {
		return fmt.Errorf("importing the publisher state file %s: %w", path, err)
	}
	logger.Info("imported a publisher state file into the store", "file", path, "target", target,
		"entries", n, "expired", len(entries)-n, "renamed_to", path+".imported")
	return nil
}

func readStateFile(path string, value func(json.RawMessage) ([]byte, error)) ([]StateEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c stateFileContent
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, err
	}
	entries := make([]StateEntry, 0, len(c.Entries))
	for k, e := range c.Entries {
		v, err := value(e.Value)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", k, err)
		}
		entries = append(entries, StateEntry{Key: k, Value: v, Expires: e.Expires})
	}
	return entries, nil
}

// rawJSON is the value as it is, such as a Slack thread's JSON.
func rawJSON(v json.RawMessage) ([]byte, error) { return v, nil }

// jsonString is the string a value holds, such as a Rootly alert id.
func jsonString(v json.RawMessage) ([]byte, error) {
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, err
	}
	return []byte(s), nil
}
