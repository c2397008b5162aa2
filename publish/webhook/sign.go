package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
)

// Requests are signed by the Standard Webhooks scheme, version 1.0.0
// (https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md,
// https://www.standardwebhooks.com): the headers below, the signed content
// "{webhook-id}.{webhook-timestamp}.{body}", each signature "v1," and the
// base64 HMAC-SHA256 of it, space-separated when several secrets sign.
const (
	headerID        = "webhook-id"
	headerTimestamp = "webhook-timestamp"
	headerSignature = "webhook-signature"
)

// The headers' keys in an http.Header (HTTP names are case-insensitive).
var (
	canonicalID        = textproto.CanonicalMIMEHeaderKey(headerID)
	canonicalTimestamp = textproto.CanonicalMIMEHeaderKey(headerTimestamp)
)

// secretPrefix marks a symmetric secret in the specification's
// serialisation: "whsec_" and the base64 of the key's bytes.
const secretPrefix = "whsec_"

// minSecretBytes is the specification's minimum key length (192 bits).
const minSecretBytes = 24

// messageID is the webhook-id of a's delivery to target: "msg_" and the
// hex SHA-256 of the fields of the outbox's delivery key (target,
// fingerprint, status, start time, as core.DeliveryKey joins them). It is
// the same on every attempt and after restarts, so receivers can
// deduplicate, and new for the alert's resolve and for its next firing.
// Hex holds no "." that could blur the signed content.
func messageID(target string, a *core.EnrichedAlert) string {
	// Built in buffers of the stack: one allocation, the id's string.
	var key [160]byte
	sum := sha256.Sum256(core.AppendDeliveryKey(key[:0], target, a))
	var id [len(idPrefix) + 2*sha256.Size]byte
	copy(id[:], idPrefix)
	hex.Encode(id[len(idPrefix):], sum[:])
	return string(id[:])
}

// idPrefix begins every webhook-id, as the specification's examples do.
const idPrefix = "msg_"

// groupMessageID is the webhook-id of n's delivery to target: "msg_" and
// the hex SHA-256 of the target, the group key and a hash of the alerts'
// states (fingerprint, status, start; in any order). Retries of the
// notification, and its resends by Alertmanager, keep it; a notification
// of the group whose alerts changed state, or that holds other alerts,
// gets a new one.
func groupMessageID(target string, n *core.Notification) string {
	states := make([]string, len(n.Alerts))
	for i := range n.Alerts {
		a := &n.Alerts[i].Alert
		states[i] = a.Fingerprint + "\x00" + string(a.Status) + "\x00" + strconv.FormatInt(a.StartsAt.UnixNano(), 10)
	}
	slices.Sort(states)
	alerts := sha256.Sum256([]byte(strings.Join(states, "\n")))
	sum := sha256.Sum256([]byte(target + "\x00" + n.Group.GroupKey + "\x00" + hex.EncodeToString(alerts[:])))
	return idPrefix + hex.EncodeToString(sum[:])
}

// decodeSecret returns the key bytes of a "whsec_<base64>" secret. Its
// errors never repeat the secret.
func decodeSecret(s string) ([]byte, error) {
	b64, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, errors.New("a signing secret must be " + secretPrefix + " followed by the base64 of the key")
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, errors.New("the part after " + secretPrefix + " is not valid base64")
	}
	if len(key) < minSecretBytes {
		return nil, fmt.Errorf("the key is %d bytes, the specification asks for at least %d", len(key), minSecretBytes)
	}
	return key, nil
}

// parseSecretFile returns the secrets of a signing_secret_file, one a
// line, blank lines skipped; name is the file's path for errors, which
// name the line and never its content.
func parseSecretFile(data, name string) ([]publish.Secret, error) {
	var out []publish.Secret
	for i, line := range strings.Split(data, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if _, err := decodeSecret(line); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, i+1, err)
		}
		out = append(out, publish.Secret(line))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no secret", name)
	}
	return out, nil
}

// signer signs requests with every key it holds, the current one first.
type signer struct {
	keys [][]byte
}

// newSigner decodes secrets that Config.Validate has checked.
func newSigner(secrets []publish.Secret) (signer, error) {
	s := signer{keys: make([][]byte, 0, len(secrets))}
	for i, sec := range secrets {
		key, err := decodeSecret(string(sec))
		if err != nil {
			return signer{}, fmt.Errorf("signing secret %d: %w", i+1, err)
		}
		s.keys = append(s.keys, key)
	}
	return s, nil
}

// sign sets the three headers on req, whose body is body; unix is the
// attempt's time. Without keys only webhook-id and webhook-timestamp are
// set: the id still lets receivers deduplicate.
func (s signer) sign(req *http.Request, id string, unix int64, body []byte) {
	ts := strconv.FormatInt(unix, 10)
	// Set under their canonical keys, as Header.Set would, without
	// canonicalising the names again for every request, and in one
	// allocation.
	values := []string{id, ts}
	req.Header[canonicalID] = values[0:1:1]
	req.Header[canonicalTimestamp] = values[1:2:2]
	if len(s.keys) == 0 {
		return
	}
	sigs := make([]string, len(s.keys))
	for i, key := range s.keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	req.Header.Set(headerSignature, strings.Join(sigs, " "))
}
