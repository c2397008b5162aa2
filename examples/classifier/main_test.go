package main

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/am-fanout/am-fanout/enrich"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClassify(t *testing.T) {
	tests := []struct {
		name, body string
		want       enrich.ClassifierAnswer
	}{
		{
			name: "team and runbook by alertname",
			body: `{"version":"1","alert":{"status":"firing","labels":{"alertname":"DiskFull"}},"classification":{"severity":"warning"}}`,
			want: enrich.ClassifierAnswer{Team: "storage", Runbook: "https://runbooks.example.com/storage", Labels: map[string]string{"owner": "storage"}},
		},
		{
			name: "critical in production is P1",
			body: `{"version":"1","alert":{"labels":{"alertname":"PostgresDown","env":"prod"}},"classification":{"severity":"critical"}}`,
			want: enrich.ClassifierAnswer{Priority: "P1", Team: "databases", Runbook: "https://runbooks.example.com/databases", Labels: map[string]string{"owner": "databases"}},
		},
		{
			name: "team by namespace",
			body: `{"version":"1","alert":{"labels":{"alertname":"PodCrashLooping","namespace":"payments-api"}},"classification":{"severity":"warning"}}`,
			want: enrich.ClassifierAnswer{Team: "payments", Labels: map[string]string{"owner": "payments"}},
		},
		{
			name: "watchdog is info",
			body: `{"version":"1","alert":{"labels":{"alertname":"Watchdog"}},"classification":{"severity":"critical"}}`,
			want: enrich.ClassifierAnswer{Severity: "info", Priority: "P5"},
		},
		{
			name: "nothing known: an empty answer",
			body: `{"version":"1","alert":{"labels":{"alertname":"Other"}},"classification":{"severity":"info"}}`,
		},
	}
	srv := httptest.NewServer(handler())
	defer srv.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(srv.URL+"/classify", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d", resp.StatusCode)
			}
			got, err := enrich.DecodeAnswer(resp.Body)
			if err != nil {
				t.Fatalf("am-fanout would refuse the answer: %v", err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("answer %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestClassifyRefusesWhatIsNotARequest(t *testing.T) {
	srv := httptest.NewServer(handler())
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/classify", "application/json", strings.NewReader(`[`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d for a broken body, want 400", resp.StatusCode)
	}
}
