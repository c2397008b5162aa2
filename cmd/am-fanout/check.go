package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/outbox"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/prometheus/common/model"
)

// checkConfig validates the configuration and lists its targets.
func checkConfig(f flags, stdout, stderr io.Writer) int {
	cfg, err := config.LoadFile(f.configFile, f.targetsDir)
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "SUCCESS: %s is valid: %d targets\n", strings.Join(cfg.Files, ", "), len(cfg.Targets))
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tMATCH\tSEND_RESOLVED\tTIMEOUT\tSOURCE")
	for _, t := range cfg.Targets {
		match := strings.Join(t.Match, ", ")
		if match == "" {
			match = "(all alerts)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%t\t%s\t%s\n", t.Name, t.Type, match, t.SendResolved, model.Duration(t.Timeout), t.Source)
	}
	tw.Flush()
	return 0
}

// render prints the requests every matching target would receive for a
// payload, with secrets redacted; nothing is sent.
func render(f flags, stdout, stderr io.Writer, logger *slog.Logger) int {
	cfg, err := config.LoadFile(f.configFile, f.targetsDir)
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	payload, err := os.Open(f.payload)
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	defer payload.Close()
	msg, err := enrich.Decode(payload)
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %s: %v\n", f.payload, err)
		return 1
	}
	alerts := enrich.New(cfg.Enrich.Rules, time.Now).Enrich(msg)
	dir, err := os.MkdirTemp("", "am-fanout-render-")
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// A store of its own: a dry run neither reads nor changes the state
	// of the running am-fanout.
	store, err := outbox.Open(filepath.Join(dir, "render.db"), outbox.StoreOptions{})
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	defer store.Close()
	o := publish.Options{Logger: logger, UserAgent: userAgent(), State: publisherState(store)}
	found, code := false, 0
	// A target that fails to render does not hide the others.
	for _, t := range cfg.Targets {
		if f.target != "" && t.Name != f.target {
			continue
		}
		found = true
		if err := renderTarget(stdout, t, alerts, o); err != nil {
			fmt.Fprintf(stderr, "FAILED: target %q: %v\n", t.Name, err)
			code = 1
		}
	}
	if !found {
		fmt.Fprintf(stderr, "FAILED: no target named %q\n", f.target)
		return 1
	}
	return code
}

func renderTarget(w io.Writer, t *core.Target, alerts []*core.EnrichedAlert, o publish.Options) error {
	p, err := publish.New(t, o)
	if err != nil {
		return err
	}
	if c, ok := p.(io.Closer); ok {
		defer c.Close()
	}
	if gr, ok := p.(publish.GroupRenderer); ok && t.GroupBy == core.GroupByNotification {
		return renderGroup(w, t, gr, alerts)
	}
	r, ok := p.(publish.Renderer)
	if !ok {
		fmt.Fprintf(w, "### target %s (%s): sends no HTTP request\n\n", t.Name, t.Type)
		return nil
	}
	for _, a := range alerts {
		sel := t.Selects(a)
		fmt.Fprintf(w, "### target %s (%s), alert %s %s [%s]\n", t.Name, t.Type,
			a.Alert.Labels["alertname"], a.Alert.Fingerprint, a.Alert.Status)
		if !sel {
			fmt.Fprintf(w, "not selected (matchers or send_resolved)\n\n")
			continue
		}
		reqs, err := r.Render(context.Background(), a)
		if later, ok := errors.AsType[*publish.NeedsEarlierAnswer](err); ok {
			fmt.Fprintf(w, "render keeps no state from earlier deliveries: %v\nonce that is known, this is sent, with %s in its place:\n", later.Err, later.Placeholder)
			reqs, err = later.Requests, nil
		}
		if err != nil {
			return err
		}
		for _, req := range reqs {
			if err := dumpRequest(w, req, secretsOf(t.Spec)); err != nil {
				return err
			}
		}
	}
	return nil
}

// renderGroup prints the one message a target with group_by:
// notification gets for the notification: the alerts it selects.
func renderGroup(w io.Writer, t *core.Target, r publish.GroupRenderer, alerts []*core.EnrichedAlert) error {
	n := &core.Notification{ReceivedAt: time.Now()}
	for _, status := range []core.AlertStatus{core.StatusFiring, core.StatusResolved} {
		for _, a := range alerts {
			if a.Alert.Status == status && t.Selects(a) {
				n.Alerts = append(n.Alerts, *a)
			}
		}
	}
	fmt.Fprintf(w, "### target %s (%s), the notification as one message (group_by: notification): %d of %d alerts\n",
		t.Name, t.Type, len(n.Alerts), len(alerts))
	if len(n.Alerts) == 0 {
		fmt.Fprintf(w, "no alert selected (matchers or send_resolved)\n\n")
		return nil
	}
	n.Group = n.Alerts[0].Group
	reqs, err := r.RenderGroup(context.Background(), n)
	if later, ok := errors.AsType[*publish.NeedsEarlierAnswer](err); ok {
		fmt.Fprintf(w, "render keeps no state from earlier deliveries: %v\nonce that is known, this is sent, with %s in its place:\n", later.Err, later.Placeholder)
		reqs, err = later.Requests, nil
	}
	if err != nil {
		return err
	}
	for _, req := range reqs {
		if err := dumpRequest(w, req, secretsOf(t.Spec)); err != nil {
			return err
		}
	}
	return nil
}

// dumpRequest prints a request with the target's secrets, credential
// headers, the query and token-like path segments redacted.
func dumpRequest(w io.Writer, req *http.Request, secrets []string) error {
	for _, h := range []string{"Authorization", "X-Api-Key"} {
		if req.Header.Get(h) != "" {
			req.Header.Set(h, "<secret>")
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent())
	}
	u := *req.URL
	switch {
	case isSecretURL(&u, secrets):
		// The target's URL is a secret (a webhook URL with its token):
		// only its scheme and host are shown, as in the logs.
		u.Path, u.RawQuery = "/REDACTED", ""
	case u.Path != "" && u.Path != "/":
		u.Path = redactedPath(u.Path)
		u.RawQuery = redactedQuery(u.Query())
	default:
		u.RawQuery = redactedQuery(u.Query())
	}
	u.RawPath, u.User = "", nil
	req.URL = &u
	req.Host = u.Host
	dump, err := httputil.DumpRequestOut(req, true)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s\n\n", routingKeyField.ReplaceAllString(redact(string(dump), secrets), `"routing_key":"<secret>"`))
	return nil
}

// routingKeyField is PagerDuty's integration key in an event: a secret
// even when a templated routing_key rendered it from labels.
var routingKeyField = regexp.MustCompile(`"routing_key":"[^"]*"`)

// redact replaces every secret in text with <secret>.
func redact(text string, secrets []string) string {
	for _, sec := range secrets {
		text = strings.ReplaceAll(text, sec, "<secret>")
	}
	return text
}

// isSecretURL reports whether u goes to the host of a secret that is a
// URL: such a URL's path and query are the credential.
func isSecretURL(u *url.URL, secrets []string) bool {
	for _, sec := range secrets {
		su, err := url.Parse(sec)
		if err == nil && su.Host != "" && strings.EqualFold(su.Host, u.Host) && su.Scheme == u.Scheme {
			return true
		}
	}
	return false
}

// redactedPath hides long path segments (24 characters or more): the
// tokens that webhook URLs of Slack, Teams and Discord carry as
// credentials.
func redactedPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if tokenSegment(s) {
			segs[i] = "REDACTED"
		}
	}
	return strings.Join(segs, "/")
}

// tokenSegment reports whether a path segment is long enough to be a
// token.
func tokenSegment(s string) bool { return len(s) >= 24 }

// redactedQuery hides the values of query parameters that carry
// credentials, such as the signature of a Teams Workflows URL.
func redactedQuery(q url.Values) string {
	for k := range q {
		if credentialParam(k) {
			q[k] = []string{"REDACTED"}
		}
	}
	return q.Encode()
}

// credentialParam reports whether a query parameter carries a credential.
func credentialParam(k string) bool {
	switch strings.ToLower(k) {
	case "sig", "signature", "token", "code", "key", "secret", "apikey", "api-key", "api_key":
		return true
	}
	return false
}

// secretsOf collects the values of every publish.Secret in v, nested
// structs included.
func secretsOf(v any) []string {
	var out []string
	var walk func(reflect.Value)
	walk = func(rv reflect.Value) {
		switch rv.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !rv.IsNil() {
				walk(rv.Elem())
			}
		case reflect.Struct:
			for i := 0; i < rv.NumField(); i++ {
				if rv.Type().Field(i).IsExported() {
					walk(rv.Field(i))
				}
			}
		case reflect.Slice:
			for i := 0; i < rv.Len(); i++ {
				walk(rv.Index(i))
			}
		case reflect.String:
			if rv.Type() == reflect.TypeFor[publish.Secret]() && rv.Len() > 0 {
				out = append(out, rv.String())
			}
		}
	}
	walk(reflect.ValueOf(v))
	return out
}
