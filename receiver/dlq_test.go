package receiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
	"github.com/stretchr/testify/assert"
)

// recordingQueue remembers the selection of every call.
type recordingQueue struct {
	calls []string
	err   error
	page  outbox.Page
}

func (q *recordingQueue) note(op string, sel outbox.Selection) {
	q.calls = append(q.calls, op+" "+strings.TrimSpace(strings.Join([]string{itoa(sel.ID), sel.Target}, " ")))
}

func itoa(id uint64) string {
	b, _ := json.Marshal(id)
	return string(b)
}

func (q *recordingQueue) DeadLetters(sel outbox.Selection, page outbox.Page) ([]outbox.DeadLetter, uint64, error) {
	q.note("list", sel)
	q.page = page
	return []outbox.DeadLetter{{ID: 7, Target: "pd"}}, 0, q.err
}

func (q *recordingQueue) Replay(sel outbox.Selection) ([]outbox.Replayed, error) {
	q.note("replay", sel)
	return []outbox.Replayed{{ID: 7, State: "replayed"}}, q.err
}

func (q *recordingQueue) Purge(sel outbox.Selection) (int, error) {
	q.note("purge", sel)
	return 1, q.err
}

// TestDeadLetterAPI: the routes, their selections, and the requests they
// refuse before touching the queue.
func TestDeadLetterAPI(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		url      string
		err      error
		wantCode int
		wantCall string // "" when the queue must not be called
		wantBody string
	}{
		{"list all", "GET", "/api/v1/deadletters", nil, 200, "list 0", `"dead_letters"`},
		{"list by target", "GET", "/api/v1/deadletters?target=pd", nil, 200, "list 0 pd", `"id":7`},
		{"list with a bad id", "GET", "/api/v1/deadletters?id=x", nil, 400, "", "not a dead letter id"},
		{"replay one", "POST", "/api/v1/deadletters/replay?id=7", nil, 200, "replay 7", `"replayed"`},
		{"replay a target", "POST", "/api/v1/deadletters/replay?target=pd", nil, 200, "replay 0 pd", `"replayed"`},
		{"replay needs a selection", "POST", "/api/v1/deadletters/replay", nil, 400, "", "?id=N or ?target=NAME"},
		{"replay failing to write", "POST", "/api/v1/deadletters/replay?id=7", errors.New("disk full"), 503, "replay 7", "disk full"},
		{"purge one", "DELETE", "/api/v1/deadletters?id=7", nil, 200, "purge 7", `"purged":1`},
		{"purge a target", "DELETE", "/api/v1/deadletters?target=pd", nil, 200, "purge 0 pd", `"purged"`},
		{"purge all needs all=true", "DELETE", "/api/v1/deadletters", nil, 400, "", "all=true"},
		{"purge all", "DELETE", "/api/v1/deadletters?all=true", nil, 200, "purge 0", `"purged"`},
		{"replay with GET is not routed", "GET", "/api/v1/deadletters/replay?id=7", nil, 405, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &recordingQueue{err: tc.err}
			mux := http.NewServeMux()
			DeadLetterRoutes(mux, q, slog.New(slog.DiscardHandler), nil)
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.url, bytes.NewReader(nil)))
			assert.Equal(t, tc.wantCode, rec.Code, "%s %s answered: %s", tc.method, tc.url, rec.Body)
			if tc.wantCall == "" {
				assert.Empty(t, q.calls, "the queue must not be called")
			} else {
				assert.Equal(t, []string{tc.wantCall}, q.calls, "queue calls")
			}
			assert.Contains(t, rec.Body.String(), tc.wantBody)
		})
	}
}

// fullQueue lists one dead letter with every field set.
type fullQueue struct{ recordingQueue }

func (fullQueue) DeadLetters(outbox.Selection, outbox.Page) ([]outbox.DeadLetter, uint64, error) {
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	return []outbox.DeadLetter{{
		ID: 7, Target: "pd", Fingerprint: "f1", AlertName: "Down", Status: core.StatusFiring,
		StartsAt: at, AcceptedAt: at, DeadAt: at, Attempts: 3, Reason: "permanent failure",
		LastError: "HTTP 400", Labels: map[string]string{"alertname": "Down"},
	}}, 0, nil
}

// TestDeadLetterFields pins the field names of a listed dead letter.
func TestDeadLetterFields(t *testing.T) {
	mux := http.NewServeMux()
	DeadLetterRoutes(mux, &fullQueue{}, slog.New(slog.DiscardHandler), nil)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/deadletters", nil))
	var body struct {
		DeadLetters []map[string]json.RawMessage `json:"dead_letters"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || len(body.DeadLetters) != 1 {
		t.Fatalf("listing %s: want one dead letter (%v)", rec.Body, err)
	}
	want := []string{"accepted_at", "alertname", "attempts", "dead_at", "fingerprint", "id",
		"labels", "last_error", "reason", "starts_at", "status", "target"}
	if got := slices.Sorted(maps.Keys(body.DeadLetters[0])); !slices.Equal(got, want) {
		t.Errorf("a dead letter has the fields %v, want %v", got, want)
	}
}

// The list is paged: limit and after reach the queue, bad ones are 400s.
func TestDeadLetterPaging(t *testing.T) {
	for _, tc := range []struct {
		query    string
		wantCode int
		want     outbox.Page
	}{
		{"", 200, outbox.Page{Limit: defaultPageLimit}},
		{"?limit=5&after=40", 200, outbox.Page{Limit: 5, After: 40}},
		{"?limit=1000", 200, outbox.Page{Limit: 1000}},
		{"?limit=0", 400, outbox.Page{}},
		{"?limit=1001", 400, outbox.Page{}},
		{"?after=x", 400, outbox.Page{}},
	} {
		q := &recordingQueue{}
		mux := http.NewServeMux()
		DeadLetterRoutes(mux, q, slog.New(slog.DiscardHandler), nil)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/deadletters"+tc.query, nil))
		if rec.Code != tc.wantCode {
			t.Errorf("GET %s: %d, want %d: %s", tc.query, rec.Code, tc.wantCode, rec.Body)
		}
		if tc.wantCode == 200 && q.page != tc.want {
			t.Errorf("GET %s: the queue was asked for %+v, want %+v", tc.query, q.page, tc.want)
		}
	}
}
