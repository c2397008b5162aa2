package receiver

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/am-fanout/am-fanout/outbox"
)

// DeadLetterQueue is what the dead-letter API acts on. An empty
// selection selects everything.
type DeadLetterQueue interface {
	DeadLetters(sel outbox.Selection, page outbox.Page) ([]outbox.DeadLetter, uint64, error)
	Replay(sel outbox.Selection) ([]outbox.Replayed, error)
	Purge(sel outbox.Selection) (int, error)
}

// DeadLetterRoutes adds the dead-letter API to mux:
//
//	GET    /api/v1/deadletters[?target=T][&id=N]   list
//	POST   /api/v1/deadletters/replay?id=N|target=T  replay one, or all of a target
//	DELETE /api/v1/deadletters?id=N|target=T|all=true  purge
//
// Every replay and purge is logged with who asked.
func DeadLetterRoutes(mux *http.ServeMux, q DeadLetterQueue, logger *slog.Logger, guard func(http.Handler) http.Handler) {
	if guard == nil {
		guard = func(h http.Handler) http.Handler { return h }
	}
	mux.HandleFunc("GET /api/v1/deadletters", func(rw http.ResponseWriter, r *http.Request) {
		sel, ok := selection(rw, r)
		if !ok {
			return
		}
		page, ok := pageOf(rw, r)
		if !ok {
			return
		}
		list, next, err := q.DeadLetters(sel, page)
		if err != nil {
			writeJSON(rw, http.StatusInternalServerError, errorBody("listing dead letters: %v", err))
			return
		}
		writeJSON(rw, http.StatusOK, struct {
			DeadLetters []outbox.DeadLetter `json:"dead_letters"`
			// NextAfter is the after= of the next page; absent on the last.
			NextAfter uint64 `json:"next_after,omitempty"`
		}{list, next})
	})
	mux.Handle("POST /api/v1/deadletters/replay", guard(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		sel, ok := selection(rw, r)
		if !ok {
			return
		}
		if sel == (outbox.Selection{}) {
			writeJSON(rw, http.StatusBadRequest, errorBody("say which dead letters to replay: ?id=N or ?target=NAME"))
			return
		}
		logger.Info("dead-letter replay requested", "remote", r.RemoteAddr, "id", sel.ID, "target", sel.Target)
		got, err := q.Replay(sel)
		if err != nil {
			writeJSON(rw, http.StatusServiceUnavailable, errorBody("%v", err))
			return
		}
		writeJSON(rw, http.StatusOK, struct {
			Replayed []outbox.Replayed `json:"replayed"`
		}{got})
	})))
	mux.Handle("DELETE /api/v1/deadletters", guard(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		sel, ok := selection(rw, r)
		if !ok {
			return
		}
		if sel == (outbox.Selection{}) && r.URL.Query().Get("all") != "true" {
			writeJSON(rw, http.StatusBadRequest, errorBody("say which dead letters to purge: ?id=N, ?target=NAME or ?all=true"))
			return
		}
		logger.Info("dead-letter purge requested", "remote", r.RemoteAddr, "id", sel.ID, "target", sel.Target)
		n, err := q.Purge(sel)
		if err != nil {
			writeJSON(rw, http.StatusServiceUnavailable, errorBody("%v", err))
			return
		}
		writeJSON(rw, http.StatusOK, struct {
			Purged int `json:"purged"`
		}{n})
	})))
}

// Admin guards a state-changing endpoint: it answers 403 unless enabled
// (the flag named), and 401 unless authorized accepts the request.
func Admin(enabled bool, flag string, authorized func(*http.Request) bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !enabled {
			writeJSON(rw, http.StatusForbidden, errorBody("this endpoint is not enabled: start am-fanout with %s", flag))
			return
		}
		if !authorized(r) {
			writeJSON(rw, http.StatusUnauthorized, errorBody("missing or wrong bearer token: this endpoint takes the webhook's token (receiver.bearer_token)"))
			return
		}
		h.ServeHTTP(rw, r)
	})
}

// selection reads ?id= and ?target=; on a bad id it answers 400.
// The page size of the dead-letter list: limit= asks for fewer or more,
// up to the most one answer holds.
const (
	defaultPageLimit = 100
	maxPageLimit     = 1000
)

// pageOf reads limit= and after= (the id the page starts after).
func pageOf(rw http.ResponseWriter, r *http.Request) (outbox.Page, bool) {
	q := r.URL.Query()
	page := outbox.Page{Limit: defaultPageLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageLimit {
			writeJSON(rw, http.StatusBadRequest, errorBody("limit=%q is not a page size from 1 to %d", v, maxPageLimit))
			return outbox.Page{}, false
		}
		page.Limit = n
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeJSON(rw, http.StatusBadRequest, errorBody("after=%q is not a dead letter id", v))
			return outbox.Page{}, false
		}
		page.After = n
	}
	return page, true
}

func selection(rw http.ResponseWriter, r *http.Request) (outbox.Selection, bool) {
	q := r.URL.Query()
	sel := outbox.Selection{Target: q.Get("target")}
	if v := q.Get("id"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			writeJSON(rw, http.StatusBadRequest, errorBody("id=%q is not a dead letter id (a positive integer)", v))
			return outbox.Selection{}, false
		}
		sel.ID = n
	}
	return sel, true
}
