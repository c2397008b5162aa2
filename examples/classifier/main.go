// Command classifier is an example of am-fanout's external classifier
// (enrich.classifier, docs/classifier.md): it names the team, runbook and
// priority of an alert from its alertname and labels. It uses the standard
// library only, so that it can be copied as the start of a real one.
//
//	go run ./examples/classifier --listen=127.0.0.1:9098
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// request is the part of am-fanout's request this classifier reads.
type request struct {
	Version string `json:"version"`
	Alert   struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alert"`
	Classification struct {
		Severity string `json:"severity"`
		Priority string `json:"priority"`
	} `json:"classification"`
}

// answer is the classifier's answer; empty fields keep am-fanout's rules.
type answer struct {
	Severity string            `json:"severity,omitempty"`
	Priority string            `json:"priority,omitempty"`
	Team     string            `json:"team,omitempty"`
	Summary  string            `json:"summary,omitempty"`
	Runbook  string            `json:"runbook,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// rule gives the team and runbook of the alerts whose alertname matches.
type rule struct {
	alertname *regexp.Regexp
	team      string
	runbook   string
}

var rules = []rule{
	{regexp.MustCompile(`^(Disk|Filesystem|Volume)`), "storage", "https://runbooks.example.com/storage"},
	{regexp.MustCompile(`^(Postgres|MySQL|Redis)`), "databases", "https://runbooks.example.com/databases"},
	{regexp.MustCompile(`^(HighLatency|ErrorRate)`), "api", "https://runbooks.example.com/api"},
}

// classify answers one request. The Watchdog alert is always info; a
// critical alert in production is P1; the team follows the alertname,
// else a "payments-" namespace.
func classify(r *request) answer {
	ls := r.Alert.Labels
	var a answer
	name := ls["alertname"]
	if name == "Watchdog" {
		return answer{Severity: "info", Priority: "P5"}
	}
	for _, ru := range rules {
		if ru.alertname.MatchString(name) {
			a.Team, a.Runbook = ru.team, ru.runbook
			break
		}
	}
	if a.Team == "" && strings.HasPrefix(ls["namespace"], "payments-") {
		a.Team = "payments"
	}
	if r.Classification.Severity == "critical" && ls["env"] == "prod" && r.Classification.Priority == "" {
		a.Priority = "P1"
	}
	if a.Team != "" {
		a.Labels = map[string]string{"owner": a.Team}
	}
	return a
}

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /classify", func(w http.ResponseWriter, r *http.Request) {
		var req request
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, "not a classifier request: "+err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(classify(&req))
	})
	return mux
}

func main() {
	listen := flag.String("listen", "127.0.0.1:9098", "address to listen on")
	flag.Parse()
	srv := &http.Server{Addr: *listen, Handler: handler(), ReadHeaderTimeout: 5 * time.Second}
	log.Printf("example classifier listening on http://%s/classify", *listen)
	log.Fatal(srv.ListenAndServe())
}
