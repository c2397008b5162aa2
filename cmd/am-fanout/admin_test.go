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
