package publish

import (
	"net/http"
	"net/http/httptest"
	"testing"

	commoncfg "github.com/prometheus/common/config"
)

// TestTransportWrapsTheClient proves that Options.Transport sees every
// request an HTTP target sends and the answer it gets.
func TestTransportWrapsTheClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	var seen []int
	o := Options{Transport: func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			resp, err := next.RoundTrip(req)
			if err == nil {
				seen = append(seen, resp.StatusCode)
			}
			return resp, err
		})
	}}
	h, err := NewHTTPTarget("t", commoncfg.DefaultHTTPClientConfig, nil, o)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Send(h.Client, req, nil); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(seen) != 1 || seen[0] != http.StatusAccepted {
		t.Errorf("the wrapping transport saw answers %v, want one 202", seen)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
