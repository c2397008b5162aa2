package publish

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var stateT0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func TestStateFileGetHonoursExpiryAndSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	s := NewStateFile[testThread](path, "test state", time.Hour)
	want := testThread{Channel: "C1", TS: "1.1"}
	if err := s.Put("k", want, stateT0); err != nil {
		t.Fatalf("put: %v", err)
	}
	tests := []struct {
		name   string
		store  *StateFile[testThread]
		at     time.Time
		wantOK bool
	}{
		{"the same store finds it within its ttl", s, stateT0.Add(59 * time.Minute), true},
		{"a fresh store over the same file finds it, as after a restart", NewStateFile[testThread](path, "test state", time.Hour), stateT0.Add(59 * time.Minute), true},
		{"it is gone once the ttl has passed", s, stateT0.Add(time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := tc.store.Get("k", tc.at)
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if ok != tc.wantOK || (ok && got != want) {
				t.Errorf("get = %+v, %v; want found=%v (%+v)", got, ok, tc.wantOK, want)
			}
		})
	}
}

func TestStateFilePutDropsExpiredEntriesAndLeavesNoTemporaryFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	s := NewStateFile[string](path, "test state", time.Hour)
	if err := s.Put("old", "id-old", stateT0); err != nil {
		t.Fatalf("put old: %v", err)
	}
	if err := s.Put("new", "id-new", stateT0.Add(2*time.Hour)); err != nil {
		t.Fatalf("put new: %v", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"old"`) || !strings.Contains(string(data), `"id-new"`) {
		t.Errorf("file after a write = %s, want the expired entry dropped and the new one kept", data)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("storage holds %d files, want only state.json (no temporary file left)", len(entries))
	}
}

func TestStateFileDelete(t *testing.T) {
	tests := []struct {
		name     string
		put      bool
		wantFile bool
	}{
		{name: "deleting a stored key forgets it", put: true, wantFile: true},
		{name: "deleting an unknown key writes nothing", put: false, wantFile: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			s := NewStateFile[string](path, "test state", time.Hour)
			if tc.put {
				if err := s.Put("k", "v", stateT0); err != nil {
					t.Fatalf("put: %v", err)
				}
			}
			if err := s.Delete("k"); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, ok, err := NewStateFile[string](path, "test state", time.Hour).Get("k", stateT0); err != nil || ok {
				t.Errorf("after delete, get from the file = found %v, err %v; want not found", ok, err)
			}
			if _, err := os.Stat(path); (err == nil) != tc.wantFile {
				t.Errorf("file exists = %v, want %v", err == nil, tc.wantFile)
			}
		})
	}
}

func TestStateFileCorruptFileIsReportedThenReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewStateFile[string](path, "test state", time.Hour)
	_, _, getErr := s.Get("k", stateT0)
	for name, err := range map[string]error{"check": s.Check(), "get": getErr, "delete": s.Delete("k")} {
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove the file") {
			t.Errorf("%s on a corrupt file: want an error naming the file and saying what to do, got %v", name, err)
		}
	}
	if err := s.Put("k", "v", stateT0); err != nil {
		t.Fatalf("put over a corrupt file: %v, want it to start afresh", err)
	}
	if v, ok, err := s.Get("k", stateT0); err != nil || !ok || v != "v" {
		t.Errorf("after put over a corrupt file, get = %q, %v, %v; want v, true, nil", v, ok, err)
	}
}

func TestStateFileWithoutPathKeepsEntriesInMemory(t *testing.T) {
	s := NewStateFile[string]("", "test state", time.Hour)
	if err := s.Put("k", "v", stateT0); err != nil {
		t.Fatalf("put: %v", err)
	}
	if v, ok, err := s.Get("k", stateT0); err != nil || !ok || v != "v" {
		t.Errorf("get = %q, %v, %v; want v, true, nil", v, ok, err)
	}
	if err := s.Delete("k"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, ok, _ := s.Get("k", stateT0); ok {
		t.Error("a deleted key is still found")
	}
}

func TestStateFileWriteErrorNamesTheState(t *testing.T) {
	blocked := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocked, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewStateFile[string](filepath.Join(blocked, "state.json"), "test state", time.Hour)
	if err := s.Put("k", "v", stateT0); err == nil || !strings.Contains(err.Error(), "writing test state") {
		t.Errorf("put under a file instead of a directory: want an error naming the state, got %v", err)
	}
}

// testThread stands for the state a publisher keeps, such as a Slack
// thread.
type testThread struct {
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}
