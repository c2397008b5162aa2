package receiver

import (
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// DeadLetter is a delivery that failed for good, as the dead-letter API
// shows it. It never holds a secret.
type DeadLetter struct {
	ID          uint64            `json:"id"`
	Target      string            `json:"target"`
	Fingerprint string            `json:"fingerprint"`
	AlertName   string            `json:"alertname,omitempty"`
	Status      string            `json:"status"`
	StartsAt    time.Time         `json:"starts_at"`
	AcceptedAt  time.Time         `json:"accepted_at"`
	DeadAt      time.Time         `json:"dead_at"`
	Attempts    int               `json:"attempts"`
	Reason      string            `json:"reason"`
	LastError   string            `json:"last_error,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// Replayed is the fate of one dead letter asked to be replayed: replayed,
// already_delivered, already_pending, stale or not_found.
type Replayed struct {
	ID     uint64 `json:"id"`
	Target string `json:"target,omitempty"`
	State  string `json:"state"`
}

// DeadLetterQueue is what the dead-letter API acts on. id 0 and target ""
// select everything.
type DeadLetterQueue interface {
	List(id uint64, target string) ([]DeadLetter, error)
	Replay(id uint64, target string) ([]Replayed, error)
	Purge(id uint64, target string) (int, error)
}

// DeadLetterRoutes adds the dead-letter API to mux:
//
//	GET    /api/v1/deadletters[?target=T][&id=N]   list
//	POST   /api/v1/deadletters/replay?id=N|target=T  replay one, or all of a target
//	DELETE /api/v1/deadletters?id=N|target=T|all=true  purge
//
// Every replay and purge is logged with who asked.
func DeadLetterRoutes(mux *http.ServeMux, q DeadLetterQueue, logger *slog.Logger) {
	mux.HandleFunc("GET /api/v1/deadletters", func(rw http.ResponseWriter, r *http.Request) {
		id, target, ok := selection(rw, r)
		if !ok {
			return
		}
		list, err := q.List(id, target)
		if err != nil {
			writeJSON(rw, http.StatusInternalServerError, errorBody("listing dead letters: %v", err))
			return
		}
		writeJSON(rw, http.StatusOK, struct {
			DeadLetters []DeadLetter `json:"dead_letters"`
		}{list})
	})
	mux.HandleFunc("POST /api/v1/deadletters/replay", func(rw http.ResponseWriter, r *http.Request) {
		id, target, ok := selection(rw, r)
		if !ok {
			return
		}
		if id == 0 && target == "" {
			writeJSON(rw, http.StatusBadRequest, errorBody("say which dead letters to replay: ?id=N or ?target=NAME"))
			return
		}
		logger.Info("dead-letter replay requested", "remote", r.RemoteAddr, "id", id, "target", target)
		got, err := q.Replay(id, target)
		if err != nil {
			writeJSON(rw, http.StatusServiceUnavailable, errorBody("%v", err))
			return
		}
		writeJSON(rw, http.StatusOK, struct {
			Replayed []Replayed `json:"replayed"`
		}{got})
	})
	mux.HandleFunc("DELETE /api/v1/deadletters", func(rw http.ResponseWriter, r *http.Request) {
		id, target, ok := selection(rw, r)
		if !ok {
			return
		}
		if id == 0 && target == "" && r.URL.Query().Get("all") != "true" {
			writeJSON(rw, http.StatusBadRequest, errorBody("say which dead letters to purge: ?id=N, ?target=NAME or ?all=true"))
			return
		}
		logger.Info("dead-letter purge requested", "remote", r.RemoteAddr, "id", id, "target", target)
		n, err := q.Purge(id, target)
		if err != nil {
			writeJSON(rw, http.StatusServiceUnavailable, errorBody("%v", err))
			return
		}
		writeJSON(rw, http.StatusOK, struct {
			Purged int `json:"purged"`
		}{n})
	})
}

// selection reads ?id= and ?target=; on a bad id it answers 400.
func selection(rw http.ResponseWriter, r *http.Request) (uint64, string, bool) {
	q := r.URL.Query()
	var id uint64
	if v := q.Get("id"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			writeJSON(rw, http.StatusBadRequest, errorBody("id=%q is not a dead letter id (a positive integer)", v))
			return 0, "", false
		}
		id = n
	}
	return id, q.Get("target"), true
}
