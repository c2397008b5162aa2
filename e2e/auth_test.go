package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// With --web.config.file basic auth, every endpoint needs the password,
// admin endpoints included; with it, the admin endpoints still need their
// flags and the webhook's bearer token. Both auth modes guard the admin
// endpoints of the real binary.
func TestAdminEndpointsUnderBasicAuthAndBearerToken(t *testing.T) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("basic-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	web := filepath.Join(dir, "web.yml")
	cfg := filepath.Join(dir, "am-fanout.yml")
	files := map[string]string{
		web: "basic_auth_users:\n  admin: " + string(hash) + "\n",
		cfg: "receiver:\n  bearer_token: hook-token\ntargets:\n  - {name: audit, type: file, path: " + filepath.Join(dir, "alerts.jsonl") + "}\n",
	}
	for path, body := range files {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeLoopbackAddr(t)
	p := startProcess(t, "am-fanout", bins.fanout,
		"--config.file="+cfg, "--storage.path="+filepath.Join(dir, "storage"), "--web.listen-address="+addr,
		"--web.config.file="+web, "--web.enable-lifecycle", "--web.enable-admin-api")
	base := "http://" + addr
	call := func(method, path, user, pass, bearer string) int {
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, 30*time.Second, "am-fanout to be ready behind basic auth", func() (bool, string) {
		if p.hasExited() {
			t.Fatalf("am-fanout exited:\n%s", p.out.String())
		}
		code := call(http.MethodGet, "/-/ready", "admin", "basic-pass", "")
		return code == http.StatusOK, http.StatusText(code)
	})
	admin := []struct{ method, path string }{
		{http.MethodPost, "/-/reload"},
		{http.MethodPost, "/api/v1/deadletters/replay?target=audit"},
		{http.MethodDelete, "/api/v1/deadletters?all=true"},
		{http.MethodGet, "/api/v1/targets"},
		{http.MethodGet, "/metrics"},
	}
	for _, e := range admin {
		for _, c := range []struct {
			name       string
			user, pass string
			want       int
		}{
			{"no credentials", "", "", http.StatusUnauthorized},
			{"a wrong password", "admin", "guess", http.StatusUnauthorized},
		} {
			if got := call(e.method, e.path, c.user, c.pass, ""); got != c.want {
				t.Errorf("%s %s with %s: %d, want %d", e.method, e.path, c.name, got, c.want)
			}
		}
	}
	// Basic auth passes the web layer; the admin endpoints then need the
	// webhook's bearer token, which a request carrying basic auth cannot
	// also carry in Authorization: they stay closed.
	for _, e := range admin[:3] {
		if got := call(e.method, e.path, "admin", "basic-pass", ""); got != http.StatusUnauthorized {
			t.Errorf("%s %s with basic auth but no bearer token: %d, want 401", e.method, e.path, got)
		}
	}
	// So do the read endpoints the token guards; those of
	// receiver.open_paths (by default the probes and /metrics) need only
	// the web layer's basic auth.
	if got := call(http.MethodGet, "/api/v1/targets", "admin", "basic-pass", ""); got != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/targets with basic auth but no bearer token: %d, want 401", got)
	}
	if got := call(http.MethodGet, "/metrics", "admin", "basic-pass", ""); got != http.StatusOK {
		t.Errorf("GET /metrics with basic auth: %d, want 200 (an open path)", got)
	}
}
