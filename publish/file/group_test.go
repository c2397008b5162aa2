package file

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

var _ core.GroupPublisher = (*file)(nil)

func TestFileWritesOneJSONLinePerNotification(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	p := newTestFile(t, path, true)
	if err := p.Publish(context.Background(), publishtest.Alert()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for _, n := range []*core.Notification{publishtest.IncidentNotification(), publishtest.ResolvedIncidentNotification()} {
		if err := p.PublishGroup(context.Background(), n); err != nil {
			t.Fatalf("PublishGroup: %v", err)
		}
	}
	lines := readLines(t, path)
	if len(lines) != 3 {
		t.Fatalf("file has %d lines, want the alert and two notifications", len(lines))
	}
	for i, want := range []core.AlertStatus{core.StatusFiring, core.StatusResolved} {
		var got core.Notification
		dec := json.NewDecoder(strings.NewReader(lines[i+1]))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("line %d is not a whole Notification: %v", i+2, err)
		}
		if len(got.Alerts) != 3 || got.Status() != want || got.Group.GroupKey != `{}:{alertname="HighLatency"}` {
			t.Errorf("line %d holds %d alerts, %s, group %q; want the notification's 3, %s", i+2, len(got.Alerts), got.Status(), got.Group.GroupKey, want)
		}
	}
	publishtest.AssertGolden(t, "notification.json", []byte(lines[1]))
}

func TestFileNotificationsAndAlertsNeverInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	p := newTestFile(t, path, false)
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			var err error
			if i%2 == 0 {
				err = p.PublishGroup(context.Background(), publishtest.IncidentNotification())
			} else {
				err = p.Publish(context.Background(), publishtest.Alert())
			}
			if err != nil {
				t.Errorf("delivery %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	lines := readLines(t, path)
	if len(lines) != 40 {
		t.Fatalf("file has %d lines, want 40", len(lines))
	}
	for i, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Fatalf("line %d is not whole JSON: %.80s", i+1, l)
		}
	}
}

func TestFileGroupWithDoneContextWritesNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alerts.jsonl")
	p := newTestFile(t, path, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.PublishGroup(ctx, publishtest.IncidentNotification()); err == nil {
		t.Fatal("PublishGroup with a done context succeeded")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != 0 {
		t.Errorf("file is %d bytes, want empty", st.Size())
	}
}
