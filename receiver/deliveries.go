package receiver

import (
	"net/http"
	"strconv"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/outbox"
)

// DeliveryHistory lists recent deliveries and their attempts; the outbox
// implements it.
type DeliveryHistory interface {
	Histories(q outbox.HistoryQuery) ([]outbox.History, error)
}

// maxHistoryLimit bounds one answer of GET /api/v1/deliveries.
const maxHistoryLimit = 1000

// DeliveryRoutes adds GET /api/v1/deliveries: recent deliveries with
// every attempt's outcome, newest first, selected by fingerprint=,
// target=, status= (firing, resolved), state= (pending, delivered, dead)
// and limit= (1 to 1000, default 100).
func DeliveryRoutes(mux *http.ServeMux, h DeliveryHistory) {
	mux.HandleFunc("GET /api/v1/deliveries", func(rw http.ResponseWriter, r *http.Request) {
		q, msg := historyQuery(r)
		if msg != "" {
			writeJSON(rw, http.StatusBadRequest, errorBody("%s", msg))
			return
		}
		list, err := h.Histories(q)
		if err != nil {
			writeJSON(rw, http.StatusInternalServerError, errorBody("listing deliveries: %v", err))
			return
		}
		writeJSON(rw, http.StatusOK, struct {
			Deliveries []outbox.History `json:"deliveries"`
		}{list})
	})
}

// historyQuery reads the query, or says what is wrong with it.
func historyQuery(r *http.Request) (outbox.HistoryQuery, string) {
	v := r.URL.Query()
	q := outbox.HistoryQuery{Fingerprint: v.Get("fingerprint"), Target: v.Get("target"), Limit: 100}
	switch s := core.AlertStatus(v.Get("status")); s {
	case "", core.StatusFiring, core.StatusResolved:
		q.Status = s
	default:
		return q, "status=" + string(s) + " is not one of firing, resolved"
	}
	switch s := v.Get("state"); s {
	case "", outbox.HistoryPending, outbox.HistoryDelivered, outbox.HistoryDead:
		q.State = s
	default:
		return q, "state=" + s + " is not one of pending, delivered, dead"
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxHistoryLimit {
			return q, "limit=" + l + " is not a number from 1 to 1000"
		}
		q.Limit = n
	}
	return q, ""
}
