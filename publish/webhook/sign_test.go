package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

// Two signing secrets in the specification's form, "whsec_" and the base64
// of a key of over 24 bytes: the current one and the one being retired.
const (
	currentSecret = "whsec_c2lnbmluZy1rZXktb25lLXNlY3JldC0wMTIzNDU2Nzg5YWI="
	oldSecret     = "whsec_c2lnbmluZy1rZXktdHdvLXNlY3JldC0wMTIzNDU2Nzg5YWJj"
	// otherSecret is valid but not the target's.
	otherSecret = "whsec_b3RoZXItc2lnbmluZy1rZXktbm90LXRoZS10YXJnZXRzIQ=="
)

// errUnverified is every failure of verifyStandardWebhook.
var errUnverified = errors.New("webhook not verified")

// verifyStandardWebhook is a receiver's check, written from the Standard
// Webhooks specification alone and sharing no code with the signer: the
// secret is "whsec_" and the base64 of the key; the signed content is
// "{webhook-id}.{webhook-timestamp}.{body}"; webhook-signature is a
// space-separated list of "v1,<base64 HMAC-SHA256>", any one of which
// suffices; the timestamp must be within tolerance of now.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("%w: a webhook-* header is missing", errUnverified)
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: webhook-timestamp %q is not unix seconds", errUnverified, ts)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp %s off", errUnverified, d)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte("."))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, sig := range strings.Split(sigs, " ") {
		version, b64, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature matches", errUnverified)
}

// TestVerifierAcceptsTheReferenceVector checks the test's own verifier
// against the vector the Standard Webhooks reference libraries test with,
// so that the tests below prove interoperability, not self-consistency.
func TestVerifierAcceptsTheReferenceVector(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)
	at := time.Unix(1614265330, 0)
	if err := verifyStandardWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", h, body, at, 5*time.Minute); err != nil {
		t.Fatalf("the verifier rejects the reference vector: %v", err)
	}
	if err := verifyStandardWebhook(otherSecret, h, body, at, 5*time.Minute); err == nil {
		t.Fatal("the verifier accepts the reference vector with another secret")
	}
}

func TestSignerReproducesTheReferenceVector(t *testing.T) {
	s, err := newSigner([]publish.Secret{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1/", nil)
	s.sign(req, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if got, want := req.Header.Get("webhook-signature"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("webhook-signature = %q, want the reference libraries' %q", got, want)
	}
}

// newSigningWebhook builds a webhook target to srv signed with secrets,
// its clock at *now.
func newSigningWebhook(t *testing.T, url string, now *time.Time, secrets ...publish.Secret) *webhook {
	t.Helper()
	p, err := newWebhook("ticketing", &Config{URL: publish.Secret(url), Format: FormatAlertmanager,
		HTTPConfig: commoncfg.DefaultHTTPClientConfig, SigningSecrets: secrets}, publish.Options{})
	if err != nil {
		t.Fatalf("newWebhook: %v", err)
	}
	p.now = func() time.Time { return *now }
	t.Cleanup(func() { p.Close() })
	return p
}

func TestWebhookSignatureVerifies(t *testing.T) {
	now := time.Unix(1767225600, 0)
	tests := []struct {
		name     string
		secrets  []publish.Secret
		verifyBy string
		wantOK   bool
	}{
		{name: "one secret", secrets: []publish.Secret{currentSecret}, verifyBy: currentSecret, wantOK: true},
		{name: "rotation: a receiver with the new secret", secrets: []publish.Secret{currentSecret, oldSecret}, verifyBy: currentSecret, wantOK: true},
		{name: "rotation: a receiver still on the old secret", secrets: []publish.Secret{currentSecret, oldSecret}, verifyBy: oldSecret, wantOK: true},
		{name: "a receiver with another secret", secrets: []publish.Secret{currentSecret, oldSecret}, verifyBy: otherSecret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWebhookServer(t, webhookStatus(http.StatusOK))
			p := newSigningWebhook(t, srv.url(), &now, tc.secrets...)
			if err := p.Publish(context.Background(), publishtest.Alert()); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			r := srv.received(t)[0]
			if n := len(strings.Fields(r.header.Get("webhook-signature"))); n != len(tc.secrets) {
				t.Errorf("webhook-signature holds %d signatures, want one per secret (%d)", n, len(tc.secrets))
			}
			if ts := r.header.Get("webhook-timestamp"); ts != "1767225600" {
				t.Errorf("webhook-timestamp = %q, want the attempt's time in unix seconds", ts)
			}
			err := verifyStandardWebhook(string(tc.verifyBy), r.header, r.body, now.Add(time.Second), 5*time.Minute)
			if tc.wantOK && err != nil {
				t.Errorf("a receiver following the specification rejects the request: %v", err)
			}
			if !tc.wantOK && !errors.Is(err, errUnverified) {
				t.Errorf("verification with a secret the target does not have = %v, want a failure", err)
			}
		})
	}
}

func TestWebhookTamperedRequestFailsVerification(t *testing.T) {
	now := time.Unix(1767225600, 0)
	srv := newWebhookServer(t, webhookStatus(http.StatusOK))
	p := newSigningWebhook(t, srv.url(), &now, currentSecret)
	if err := p.Publish(context.Background(), publishtest.Alert()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	r := srv.received(t)[0]
	tests := map[string]func(h http.Header, body []byte) (http.Header, []byte){
		"body changed": func(h http.Header, b []byte) (http.Header, []byte) {
			return h, bytes.Replace(b, []byte("firing"), []byte("resolved"), 1)
		},
		"id changed": func(h http.Header, b []byte) (http.Header, []byte) {
			h.Set("webhook-id", "msg_other")
			return h, b
		},
		"timestamp changed": func(h http.Header, b []byte) (http.Header, []byte) {
			h.Set("webhook-timestamp", "1767225601")
			return h, b
		},
	}
	for name, tamper := range tests {
		t.Run(name, func(t *testing.T) {
			h, body := tamper(r.header.Clone(), append([]byte(nil), r.body...))
			if err := verifyStandardWebhook(currentSecret, h, body, now, 5*time.Minute); !errors.Is(err, errUnverified) {
				t.Errorf("a tampered request verifies: %v", err)
			}
		})
	}
	if err := verifyStandardWebhook(currentSecret, r.header, r.body, now.Add(10*time.Minute), 5*time.Minute); !errors.Is(err, errUnverified) {
		t.Errorf("a request replayed after the tolerance verifies: %v", err)
	}
}

// TestWebhookIDIsTheDeliveryKey: retries of one delivery carry one
// webhook-id with fresh timestamps and signatures; the alert's resolve and
// the same alert at another target are other deliveries.
func TestWebhookIDIsTheDeliveryKey(t *testing.T) {
	now := time.Unix(1767225600, 0)
	srv := newWebhookServer(t, webhookStatus(http.StatusServiceUnavailable))
	p := newSigningWebhook(t, srv.url(), &now, currentSecret)
	firing := publishtest.Alert()
	_ = p.Publish(context.Background(), firing)
	now = now.Add(30 * time.Second)
	// An attempt after a restart sees the alert as read back from the store.
	restored := publishtest.Alert()
	restored.Alert.StartsAt = restored.Alert.StartsAt.Round(0).In(time.FixedZone("elsewhere", 3600))
	_ = p.Publish(context.Background(), restored)
	_ = p.Publish(context.Background(), publishtest.ResolvedAlert())
	other := newSigningWebhook(t, srv.url(), &now, currentSecret)
	other.name = "other-target"
	_ = other.Publish(context.Background(), firing)

	reqs := srv.received(t)
	if len(reqs) != 4 {
		t.Fatalf("server got %d requests, want 4", len(reqs))
	}
	first, retry, resolve, elsewhere := reqs[0].header, reqs[1].header, reqs[2].header, reqs[3].header
	if !strings.HasPrefix(first.Get("webhook-id"), "msg_") || strings.Contains(first.Get("webhook-id"), ".") {
		t.Errorf("webhook-id %q is not msg_ and a dot-free token", first.Get("webhook-id"))
	}
	if first.Get("webhook-id") != retry.Get("webhook-id") {
		t.Errorf("two attempts of one delivery have ids %q and %q, want one", first.Get("webhook-id"), retry.Get("webhook-id"))
	}
	if first.Get("webhook-timestamp") == retry.Get("webhook-timestamp") || first.Get("webhook-signature") == retry.Get("webhook-signature") {
		t.Error("a retry repeats the first attempt's timestamp or signature, want the attempt's own")
	}
	if resolve.Get("webhook-id") == first.Get("webhook-id") {
		t.Error("the resolve has the firing's webhook-id, so a receiver would drop it as a duplicate")
	}
	if elsewhere.Get("webhook-id") == first.Get("webhook-id") {
		t.Error("two targets share a webhook-id")
	}
	for i, r := range reqs {
		if err := verifyStandardWebhook(currentSecret, r.header, r.body, now, 5*time.Minute); err != nil {
			t.Errorf("request %d does not verify: %v", i, err)
		}
	}
}

// TestMessageIDHashesTheDeliveryKey keeps webhook-id and the outbox's
// dedup key on the same inputs: one delivery, one id.
func TestMessageIDHashesTheDeliveryKey(t *testing.T) {
	for _, a := range []*core.EnrichedAlert{publishtest.Alert(), publishtest.ResolvedAlert()} {
		sum := sha256.Sum256([]byte(core.DeliveryKey("ticketing", a)))
		if got, want := messageID("ticketing", a), "msg_"+hex.EncodeToString(sum[:]); got != want {
			t.Errorf("%s alert: webhook-id %q is not msg_ and the hex SHA-256 of its delivery key, %q", a.Alert.Status, got, want)
		}
	}
}

func TestWebhookUnsignedCarriesIDAndTimestamp(t *testing.T) {
	now := time.Unix(1767225600, 0)
	srv := newWebhookServer(t, webhookStatus(http.StatusOK))
	p := newSigningWebhook(t, srv.url(), &now)
	if err := p.Publish(context.Background(), publishtest.Alert()); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	h := srv.received(t)[0].header
	if h.Get("webhook-id") == "" || h.Get("webhook-timestamp") != "1767225600" {
		t.Errorf("webhook-id %q, webhook-timestamp %q: want both on unsigned requests too", h.Get("webhook-id"), h.Get("webhook-timestamp"))
	}
	if sig, ok := h["Webhook-Signature"]; ok {
		t.Errorf("an unsigned target sends webhook-signature %q", sig)
	}
}

// TestSigningSecretsStayOutOfErrorsAndLogs reads secrets through the
// config, then fails deliveries, logging at debug level.
func TestSigningSecretsStayOutOfErrorsAndLogs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keys"), []byte(currentSecret+"\n"+oldSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newWebhookServer(t, webhookStatus(http.StatusBadRequest))
	c := &Config{URL: publish.Secret(srv.url()), URLFile: "", Format: FormatEnriched, HTTPConfig: commoncfg.DefaultHTTPClientConfig, SigningSecretFile: "keys"}
	if err := c.Validate(dir); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if len(c.SigningSecrets) != 2 {
		t.Fatalf("read %d secrets from the file, want 2", len(c.SigningSecrets))
	}
	p, err := publish.New(&core.Target{Name: "ticketing", Type: "webhook", Spec: c}, publish.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer p.(io.Closer).Close()
	err = p.Publish(context.Background(), publishtest.Alert())
	if err == nil {
		t.Fatal("Publish succeeded on 400")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err2 := p.Publish(ctx, publishtest.Alert())
	for _, s := range []string{currentSecret, oldSecret} {
		key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		for what, text := range map[string]string{"error": err.Error(), "canceled error": fmt.Sprint(err2), "logs": logs.String()} {
			if strings.Contains(text, s) || strings.Contains(text, strings.TrimPrefix(s, "whsec_")) || strings.Contains(text, string(key)) {
				t.Errorf("the %s show a signing secret: %s", what, text)
			}
		}
	}
}
