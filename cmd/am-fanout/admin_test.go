package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every state-changing endpoint is off unless its flag enables it, and
// takes the webhook's bearer token when one is configured.
func TestAdminEndpointsNeedTheirFlagAndTheToken(t *testing.T) {
	up := newSink(t, 200)
	endpoints := []struct{ method, path string }{
		{http.MethodPost, "/-/reload"},
		{http.MethodPut, "/-/reload"},
		{http.MethodPost, "/api/v1/deadletters/replay?target=t"},
		{http.MethodDelete, "/api/v1/deadletters?all=true"},
		{http.MethodPost, "/api/v1/targets/t/test"},
	}
	cases := []struct {
		name    string
		token   string // receiver.bearer_token; "" for none
		enabled bool
		send    string // the bearer token sent; "" for none
		want    int
	}{
		{"off by default, even without a token", "", false, "", http.StatusForbidden},
		{"off by default, even with the right token", "s3cret-token", false, "s3cret-token", http.StatusForbidden},
		{"enabled without a configured token", "", true, "", http.StatusOK},
		{"enabled, token configured, none sent", "s3cret-token", true, "", http.StatusUnauthorized},
		{"enabled, token configured, a wrong one sent", "s3cret-token", true, "guess", http.StatusUnauthorized},
		{"enabled, the right token", "s3cret-token", true, "s3cret-token", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			config := "targets:\n" + webhookTarget("t", up.srv.URL)
			if tc.token != "" {
				config = "receiver:\n  bearer_token: " + tc.token + "\n" + config
			}
			f := newFixtureWith(t, config, nil, func(fl *flags) {
				fl.enableLifecycle, fl.enableAdminAPI = tc.enabled, tc.enabled
			})
			for _, e := range endpoints {
				req, err := http.NewRequest(e.method, f.http.URL+e.path, nil)
				require.NoError(t, err)
				if tc.send != "" {
					req.Header.Set("Authorization", "Bearer "+tc.send)
				}
				resp, err := f.http.Client().Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.Equal(t, tc.want, resp.StatusCode, "%s %s: %s", e.method, e.path, body)
				if tc.want == http.StatusForbidden {
					assert.Contains(t, string(body), "--web.enable-", "a refused endpoint names the flag that enables it")
				}
				assert.False(t, strings.Contains(string(body), "s3cret-token"), "an answer repeats the token")
			}
		})
	}
}

// With a bearer token set, the read endpoints take it too, except those
// receiver.open_paths names (by default the probes and metrics).
func TestReadEndpointsTakeTheTokenUnlessOpen(t *testing.T) {
	up := newSink(t, 200)
	reads := []string{"/", "/-/healthy", "/-/ready", "/metrics", "/api/v1/targets", "/api/v1/status",
		"/api/v1/deadletters", "/api/v1/deliveries", "/debug/pprof/"}
	cases := []struct {
		name, receiver string
		send           string
		open           []string // what answers 200; the others answer 401
	}{
		{"no token: all open", "", "", reads},
		{"token, none sent: probes and metrics open", "  bearer_token: s3cret-token\n", "", []string{"/-/healthy", "/-/ready", "/metrics"}},
		{"token sent: all open", "  bearer_token: s3cret-token\n", "s3cret-token", reads},
		{"open_paths: the page and the targets API", "  bearer_token: s3cret-token\n  open_paths: [/, /api/v1/targets]\n", "", []string{"/", "/api/v1/targets"}},
		{"open_paths empty: nothing open", "  bearer_token: s3cret-token\n  open_paths: []\n", "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			config := "targets:\n" + webhookTarget("t", up.srv.URL)
			if tc.receiver != "" {
				config = "receiver:\n" + tc.receiver + config
			}
			f := newFixture(t, config, nil)
			f.s.ready.Store(true)
			for _, path := range reads {
				req, err := http.NewRequest(http.MethodGet, f.http.URL+path, nil)
				require.NoError(t, err)
				if tc.send != "" {
					req.Header.Set("Authorization", "Bearer "+tc.send)
				}
				resp, err := f.http.Client().Do(req)
				require.NoError(t, err)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := http.StatusUnauthorized
				for _, o := range tc.open {
					if o == path {
						want = http.StatusOK
					}
				}
				assert.Equal(t, want, resp.StatusCode, "GET %s: %.200s", path, body)
				if want == http.StatusUnauthorized {
					assert.Contains(t, string(body), "open_paths", "a refused read says how to open it")
				}
			}
		})
	}
}
