package receiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// recordingQueue remembers the selection of every call.
type recordingQueue struct {
	calls []string
	err   error
}

func (q *recordingQueue) note(op string, id uint64, target string) {
	q.calls = append(q.calls, op+" "+strings.TrimSpace(strings.Join([]string{itoa(id), target}, " ")))
}

func itoa(id uint64) string {
	b, _ := json.Marshal(id)
	return string(b)
}

func (q *recordingQueue) List(id uint64, target string) ([]DeadLetter, error) {
	q.note("list", id, target)
	return []DeadLetter{{ID: 7, Target: "pd"}}, q.err
}

func (q *recordingQueue) Replay(id uint64, target string) ([]Replayed, error) {
	q.note("replay", id, target)
	return []Replayed{{ID: 7, State: "replayed"}}, q.err
}

func (q *recordingQueue) Purge(id uint64, target string) (int, error) {
	q.note("purge", id, target)
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
		{"list by target", "GET", "/api/v1/deadletters?target=pd", nil, 200, "list 0 pd", `"id": 7`},
		{"list with a bad id", "GET", "/api/v1/deadletters?id=x", nil, 400, "", "not a dead letter id"},
		{"replay one", "POST", "/api/v1/deadletters/replay?id=7", nil, 200, "replay 7", `"replayed"`},
		{"replay a target", "POST", "/api/v1/deadletters/replay?target=pd", nil, 200, "replay 0 pd", `"replayed"`},
		{"replay needs a selection", "POST", "/api/v1/deadletters/replay", nil, 400, "", "?id=N or ?target=NAME"},
		{"replay failing to write", "POST", "/api/v1/deadletters/replay?id=7", errors.New("disk full"), 503, "replay 7", "disk full"},
		{"purge one", "DELETE", "/api/v1/deadletters?id=7", nil, 200, "purge 7", `"purged": 1`},
		{"purge a target", "DELETE", "/api/v1/deadletters?target=pd", nil, 200, "purge 0 pd", `"purged"`},
		{"purge all needs all=true", "DELETE", "/api/v1/deadletters", nil, 400, "", "all=true"},
		{"purge all", "DELETE", "/api/v1/deadletters?all=true", nil, 200, "purge 0", `"purged"`},
		{"replay with GET is not routed", "GET", "/api/v1/deadletters/replay?id=7", nil, 405, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &recordingQueue{err: tc.err}
			mux := http.NewServeMux()
			DeadLetterRoutes(mux, q, slog.New(slog.DiscardHandler))
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
