package benchmarks

import (
	"bytes"
	"context"
	binenc "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/sync/semaphore"
)

// The forwarder runs in a process of its own, as am-fanout does, so that
// both share the machine with the benchmark's clients and targets in the
// same way: the test binary started again with these variables set
// serves it (TestMain).
const (
	forwarderEnv        = "AM_FANOUT_BENCH_FORWARDER"         // its listen address
	forwarderTargetsEnv = "AM_FANOUT_BENCH_FORWARDER_TARGETS" // the targets' URLs, comma-separated
	forwarderStoreEnv   = "AM_FANOUT_BENCH_FORWARDER_STORE"   // forwarder=durable: its bbolt file
	// perTargetPrefix before the file makes it forwarder=durable-per-target.
	perTargetPrefix = "per-target:"
)

// startForwarder runs the forwarder to urls in a process of its own and
// returns its URL; with store set, the durable one, writing to a file
// there. The benchmark's cleanup stops it.
func startForwarder(b *testing.B, urls []string, store string) *server {
	b.Helper()
	return startProcess(b, "the forwarder", func(addr string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), forwarderEnv+"="+addr, forwarderTargetsEnv+"="+strings.Join(urls, ","), forwarderStoreEnv+"="+store)
		return cmd
	})
}

// serveForwarder serves the forwarder on addr, with /-/ready for
// startForwarder, until SIGTERM; with store set, the durable one. It
// returns the process's exit code.
func serveForwarder(addr string, urls []string, store string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var h http.Handler = newForwarder(urls)
	if store != "" {
		path, perTarget := strings.CutPrefix(store, perTargetPrefix)
		d, err := newDurable(newForwarder(urls), path, perTarget)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		h = d
	}
	mux := http.NewServeMux()
	mux.Handle("POST /webhook", h)
	mux.HandleFunc("GET /-/ready", func(http.ResponseWriter, *http.Request) {})
	// The forwarder's CPU profile, to set beside am-fanout's.
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
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
	bodies, ok := f.decode(w, r)
	if !ok {
		return
	}
	if !f.deliver(bodies) {
		http.Error(w, "a target did not accept an alert", http.StatusBadGateway)
		return
	}
	answerSuccess(w)
}

// decode reads a notification and returns one message per alert; on an
// error it answers the request itself and returns false.
func (f *forwarder) decode(w http.ResponseWriter, r *http.Request) ([][]byte, bool) {
	var msg message
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	bodies := make([][]byte, 0, len(msg.Alerts))
	for _, a := range msg.Alerts {
		one := *msg.Data
		one.Alerts = template.Alerts{a}
		body, err := json.Marshal(message{Data: &one, Version: msg.Version, GroupKey: msg.GroupKey})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return nil, false
		}
		bodies = append(bodies, body)
	}
	return bodies, true
}

// deliver posts every body to every target in parallel and reports
// whether all of them answered 2xx.
func (f *forwarder) deliver(bodies [][]byte) bool {
	var failed atomic.Bool
	f.deliverEach(bodies, func(_, _ int, ok bool) {
		if !ok {
			failed.Store(true)
		}
	})
	return !failed.Load()
}

// deliverEach posts every body to every target in parallel, calls done
// with the body's and the target's index and whether the target
// answered 2xx as each POST ends, and returns once all have.
func (f *forwarder) deliverEach(bodies [][]byte, done func(body, target int, ok bool)) {
	var wg sync.WaitGroup
	for i, body := range bodies {
		for j, u := range f.urls {
			wg.Go(func() {
				resp, err := f.client.Post(u, "application/json", bytes.NewReader(body))
				if err != nil {
					done(i, j, false)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				done(i, j, resp.StatusCode/100 == 2)
			})
		}
	}
	wg.Wait()
}

func answerSuccess(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"status":"success"}`)
}

// durable is the floor under any durable fan-out (forwarder=durable): the
// forwarder plus the least a server that answers only for what it has
// persisted must write, and nothing else. Each alert's message is put
// once into a bbolt file before the answer and deleted once every target
// answered, both in group commits with fsync on (one committer takes
// every write queued while the previous commit ran, as am-fanout's store
// does). It answers once the messages are committed and delivers after,
// with at most maxUnsettled deliveries between their two writes, as many
// as am-fanout's default outbox.max_in_flight attempts (the next webhook
// waits for room). No per-target state, retries, ordering,
// dedup log, history or metrics: a durable pipeline writes at least this
// much, on the same two CPUs, so the ratio it reaches to the forwarder
// bounds what one can reach. With perTarget it also puts a small record
// per delivery with the message and deletes each as its target answers
// (the message with the last): what a fan-out that retries each target
// on its own must keep at the least.
type durable struct {
	*forwarder
	db     *bolt.DB
	writes chan durableWrite
	room   *semaphore.Weighted
	seq    atomic.Uint64
	// perTarget keeps a record of each delivery besides its alert's
	// message (forwarder=durable-per-target).
	perTarget bool
}

// durableWrite is one handler's share of a commit: keys to put with their
// values, or (values nil) keys to delete; done, when set, gets the
// commit's error.
type durableWrite struct {
	keys, values [][]byte
	done         chan error
}

const maxUnsettled = 256

var durableBucket = []byte("pending")

func newDurable(f *forwarder, path string, perTarget bool) (*durable, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, err
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(durableBucket)
		return err
	}); err != nil {
		db.Close()
		return nil, err
	}
	d := &durable{forwarder: f, db: db, writes: make(chan durableWrite, maxUnsettled), room: semaphore.NewWeighted(maxUnsettled), perTarget: perTarget}
	go d.commit()
	return d, nil
}

// commit writes, in one transaction, every write queued, until the
// channel closes.
func (d *durable) commit() {
	for w := range d.writes {
		batch := []durableWrite{w}
		for more := true; more; {
			select {
			case w := <-d.writes:
				batch = append(batch, w)
			default:
				more = false
			}
		}
		err := d.db.Update(func(tx *bolt.Tx) error {
			bk := tx.Bucket(durableBucket)
			for _, w := range batch {
				for i, k := range w.keys {
					var err error
					if w.values == nil {
						err = bk.Delete(k)
					} else {
						err = bk.Put(k, w.values[i])
					}
					if err != nil {
						return err
					}
				}
			}
			return nil
		})
		for _, w := range batch {
			if w.done != nil {
				w.done <- err
			} else if err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}
	}
}

func (d *durable) write(keys, values [][]byte) error {
	done := make(chan error, 1)
	d.writes <- durableWrite{keys: keys, values: values, done: done}
	return <-done
}

func (d *durable) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bodies, ok := d.decode(w, r)
	if !ok {
		return
	}
	// An alert's message is keyed by its number; with perTarget, each of
	// its deliveries by the number and the target's index after it.
	keys, values := make([][]byte, 0, len(bodies)), make([][]byte, 0, len(bodies))
	for _, body := range bodies {
		key := binenc.BigEndian.AppendUint64(nil, d.seq.Add(1))
		keys, values = append(keys, key), append(values, body)
		if d.perTarget {
			for j, u := range d.urls {
				keys, values = append(keys, append(slices.Clip(key), byte(j))), append(values, []byte(u))
			}
		}
	}
	weight := min(int64(len(bodies)*len(d.urls)), maxUnsettled)
	if err := d.room.Acquire(r.Context(), weight); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err := d.write(keys, values); err != nil {
		d.room.Release(weight)
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	answerSuccess(w)
	go func() {
		defer d.room.Release(weight)
		if !d.perTarget {
			if d.deliver(bodies) {
				d.settle(keys)
			}
			return
		}
		// Each delivery's record goes as its target answers; the
		// alert's message with the last of them.
		stride := len(d.urls) + 1
		left := make([]atomic.Int32, len(bodies))
		for i := range left {
			left[i].Store(int32(len(d.urls)))
		}
		d.deliverEach(bodies, func(i, j int, ok bool) {
			if !ok {
				return
			}
			done := [][]byte{keys[i*stride+1+j]}
			if left[i].Add(-1) == 0 {
				done = append(done, keys[i*stride])
			}
			d.settle(done)
		})
	}()
}

// settle deletes keys in the next commit, without waiting for it:
// nothing waits for a delivery's record to go.
func (d *durable) settle(keys [][]byte) {
	d.writes <- durableWrite{keys: keys}
}
