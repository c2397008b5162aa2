package benchmarks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
)

// The forwarder runs in a process of its own, as am-fanout does, so that
// both share the machine with the benchmark's clients and targets in the
// same way: the test binary started again with these variables set
// serves it (TestMain).
const (
	forwarderEnv        = "AM_FANOUT_BENCH_FORWARDER"         // its listen address
	forwarderTargetsEnv = "AM_FANOUT_BENCH_FORWARDER_TARGETS" // the targets' URLs, comma-separated
)

// startForwarder runs the forwarder to urls in a process of its own and
// returns its URL. The benchmark's cleanup stops it.
func startForwarder(b *testing.B, urls []string) *server {
	b.Helper()
	return startProcess(b, "the forwarder", func(addr string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), forwarderEnv+"="+addr, forwarderTargetsEnv+"="+strings.Join(urls, ","))
		return cmd
	})
}

// serveForwarder serves the forwarder on addr, with /-/ready for
// startForwarder, until SIGTERM; it returns the process's exit code.
func serveForwarder(addr string, urls []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", newForwarder(urls))
	mux.HandleFunc("GET /-/ready", func(http.ResponseWriter, *http.Request) {})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// forwarder is the control: the least a fan-out over HTTP does. It
// decodes a v4 notification, posts each of its alerts as a v4 message of
// one alert (as am-fanout's format alertmanager does) to every target in
// parallel, and answers 200 once all of them answered 2xx, 502 if one did
// not. No durability, retries, breakers, ordering or metrics.
type forwarder struct {
	client *http.Client
	urls   []string
}

func newForwarder(urls []string) *forwarder {
	return &forwarder{urls: urls, client: &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 64},
		Timeout:   30 * time.Second,
	}}
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg message
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var (
		wg     sync.WaitGroup
		failed atomic.Bool
	)
	for _, a := range msg.Alerts {
		one := *msg.Data
		one.Alerts = template.Alerts{a}
		body, err := json.Marshal(message{Data: &one, Version: msg.Version, GroupKey: msg.GroupKey})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, u := range f.urls {
			wg.Go(func() {
				resp, err := f.client.Post(u, "application/json", bytes.NewReader(body))
				if err != nil {
					failed.Store(true)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					failed.Store(true)
				}
			})
		}
	}
	wg.Wait()
	if failed.Load() {
		http.Error(w, "a target did not accept an alert", http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"success"}`)
}
