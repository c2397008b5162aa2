package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/am-fanout/am-fanout/breaker"
	"github.com/am-fanout/am-fanout/config"
	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/enrich"
	"github.com/am-fanout/am-fanout/fanout"
	"github.com/am-fanout/am-fanout/health"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/receiver"
	"github.com/am-fanout/am-fanout/tracing"
)

// server is the running am-fanout: the current configuration and targets,
// and the state kept across reloads (breakers, health, gone targets,
// deduplication).
type server struct {
	flags   flags
	logger  *slog.Logger
	reg     *prometheus.Registry
	started time.Time

	breakers *breaker.Set
	gone     *fanout.GoneTargets
	health   *health.Monitor
	prober   *health.Prober
	targets  *fanout.TargetSet
	durable  *durable // the store: outbox and dedup log (outbox.go)
	metrics  *fanout.Metrics
	gc       *collector // the Go collector's GOGC and heap floor (gogc.go)
	webhook  *receiver.Webhook
	tracing  *tracing.Provider // follows reloads (tracing.go)
	// classifiers prepares alerts before their first attempt (enrich.classifier).
	classifiers *classifiers

	reloadOK         prometheus.Gauge
	reloadTime       prometheus.Gauge
	templateFailures *prometheus.CounterVec

	// reloading serialises reloads from reading the files to handing the
	// webhook its settings, so that the last reload to start is the one in
	// force: two reloads interleaved could leave the older settings (an
	// old bearer token) installed after the newer targets.
	reloading sync.Mutex

	mu      sync.Mutex // guards the fields below
	files   []string
	retired []retired
	last    receiver.Reload

	ready atomic.Bool
	// enricher holds the enrichment rules in force, for test sends.
	enricher atomic.Pointer[enrich.Enricher]
}

// retired publishers are closed once fan-outs that may still use them
// have passed their deadline.
type retired struct {
	after   time.Time
	targets []*core.Target
}

func newServer(f flags, logger *slog.Logger) (*server, error) {
	cfg, err := config.LoadFile(f.configFile, f.targetsDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(f.storagePath, 0o755); err != nil {
		return nil, fmt.Errorf("storage path: %w", err)
	}
	s := &server{
		flags: f, logger: logger, reg: prometheus.NewRegistry(), started: time.Now(),
		health:  health.New(health.Options{}),
		gone:    &fanout.GoneTargets{},
		targets: fanout.NewTargetSet(nil),
		tracing: tracing.NewProvider(),
		gc:      newCollector(),
	}
	s.prober = health.NewProber(s.health)
	s.breakers = breaker.NewSet(func(name string, from, to breaker.State) {
		logger.Warn("circuit breaker changed state", "target", name, "from", from, "to", to)
	})
	s.reg.MustRegister(
		versioncollector.NewCollector("am_fanout"), newTargetCollector(s),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	s.metrics = fanout.NewMetrics(s.reg)
	s.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "am_fanout_config_last_reload_successful",
		Help: "Whether the last configuration reload attempt was successful.",
	})
	s.reloadTime = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "am_fanout_config_last_reload_success_timestamp_seconds",
		Help: "Timestamp of the last successful configuration reload.",
	})
	s.templateFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "am_fanout_template_render_failures_total",
		Help: "User templates that failed to render, so that the default rendering was sent instead.",
	}, []string{"target", "field"})
	s.reg.MustRegister(s.reloadOK, s.reloadTime, s.templateFailures)
	attempter := fanout.NewAttempter(s.health, s.gone, s.metrics, logger)
	attempter.Tracer = s.tracing.Tracer(instrumentation)
	s.classifiers = newClassifiers(s.reg, logger)
	if s.durable, err = openDurable(f.storagePath, cfg, s.targets, attempter, s.classifiers, logger, s.reg); err != nil {
		return nil, err
	}
	// A probe that finds a failing target up ends its lane's wait.
	s.prober.OnUp = s.durable.box.Wake
	if err := importStateFiles(f.storagePath, s.durable.store, logger); err != nil {
		s.durable.close()
		return nil, err
	}
	settings, err := s.install(cfg)
	if err != nil {
		s.durable.close()
		return nil, err
	}
	s.webhook = receiver.NewWebhook(settings, receiver.Limits{
		MaxBodyBytes: f.maxBodyBytes, MaxInflightBytes: f.maxInflightBytes, BodyWait: f.bodyWait,
	}, logger, s.reg)
	s.durable.start()
	return s, nil
}

// install builds the targets of cfg and makes them current; it returns
// the webhook settings that go with them.
func (s *server) install(cfg *config.Config) (receiver.Settings, error) {
	built := cfg.Targets
	classifier, err := s.classifiers.build(cfg.Enrich.Classifier)
	if err != nil {
		return receiver.Settings{}, err
	}
	err = buildPublishers(built, publish.Options{
		Logger: s.logger, UserAgent: userAgent(), State: s.durable.state,
		OnTemplateError: func(target, field string) {
			s.templateFailures.WithLabelValues(target, field).Inc()
		},
		// A target that says its next request would be throttled pauses
		// its lane until then instead of earning a 429.
		Throttled: s.durable.box.Pause,
	})
	if err != nil {
		classifier.drop()
		return receiver.Settings{}, err
	}
	if err := s.applyTracing(cfg); err != nil {
		classifier.drop()
		s.closeQuietly(built)
		return receiver.Settings{}, err
	}
	s.classifiers.use(classifier)
	s.gc.apply(cfg.Runtime, s.logger)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.targets.Targets()
	attachBreakers(built, s.breakers)
	s.targets.Store(built)
	s.files = cfg.Files
	s.forgetRemoved(old, built)
	s.applyHealth(cfg, old, built)
	for _, t := range built {
		s.metrics.InitTarget(t.Name, t.Type)
	}
	s.retire(old, time.Duration(cfg.Fanout.Timeout))
	s.reloaded(nil)
	s.logger.Info("configuration loaded", "files", cfg.Files, "targets", len(built), "tracing", cfg.Tracing.String())
	enricher := enrich.New(cfg.Enrich.Rules, time.Now)
	s.enricher.Store(enricher)
	return receiver.Settings{
		Enricher:    enricher,
		BearerToken: string(cfg.Receiver.BearerToken), OpenPaths: cfg.Receiver.OpenPaths,
		Outbox: s.durable.box, WaitForFirstAttempt: cfg.Outbox.WaitForFirstAttempt,
		RoomWait: time.Duration(cfg.Outbox.WaitForRoom),
		Tracer:   s.acceptTracer(),
	}, nil
}

// reload reads the configuration again; on any error the running set of
// targets stays as it was.
func (s *server) reload() error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	cfg, err := config.LoadFile(s.flags.configFile, s.flags.targetsDir)
	if err == nil {
		var settings receiver.Settings
		if settings, err = s.install(cfg); err == nil {
			s.webhook.SetSettings(settings)
			return nil
		}
	}
	s.mu.Lock()
	s.reloaded(err)
	s.mu.Unlock()
	s.logger.Error("configuration reload failed, keeping the previous targets", "err", err)
	return err
}

// reloaded records a reload's outcome; s.mu must be held.
func (s *server) reloaded(err error) {
	s.last = receiver.Reload{At: time.Now(), Success: err == nil}
	if err != nil {
		s.last.Error = err.Error()
		s.reloadOK.Set(0)
		return
	}
	s.reloadOK.Set(1)
	s.reloadTime.Set(float64(s.last.At.Unix()))
}

// forgetRemoved drops the health state and metric series of targets that
// are gone; s.mu must be held.
func (s *server) forgetRemoved(old, current []*core.Target) {
	keep := make(map[string]bool, len(current))
	for _, t := range current {
		keep[t.Name] = true
	}
	for _, t := range old {
		if name := t.Name; !keep[name] {
			s.health.Forget(name)
			s.gone.Forget(name)
			s.metrics.DeleteTarget(name)
			s.templateFailures.DeletePartialMatch(prometheus.Labels{"target": name})
			s.durable.forget(name)
		}
	}
}

// retire schedules old publishers for closing once every fan-out that
// may use them is over, and closes those whose time has come; s.mu must be
// held.
func (s *server) retire(old []*core.Target, fanoutTimeout time.Duration) {
	now := time.Now()
	keep := s.retired[:0]
	for _, r := range s.retired {
		if now.After(r.after) {
			s.closeQuietly(r.targets)
		} else {
			keep = append(keep, r)
		}
	}
	s.retired = keep
	if len(old) > 0 {
		s.retired = append(s.retired, retired{after: now.Add(fanoutTimeout), targets: old})
	}
}

func (s *server) closeQuietly(ts []*core.Target) {
	if err := closePublishers(ts); err != nil {
		s.logger.Warn("closing publishers", "err", err)
	}
}

// close stops the probes and the heap floor, and closes every publisher,
// current and retired.
func (s *server) close() {
	s.durable.close()
	s.gc.stop()
	s.shutdownTracing()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prober.Stop()
	for _, r := range s.retired {
		s.closeQuietly(r.targets)
	}
	s.retired = nil
	s.closeQuietly(s.targets.Targets())
	s.classifiers.close()
}

func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/webhook", s.webhook)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "am-fanout is Healthy.")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "am-fanout is not ready.", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "am-fanout is Ready.")
	})
	reload := func(w http.ResponseWriter, _ *http.Request) {
		if err := s.reload(); err != nil {
			http.Error(w, fmt.Sprintf("failed to reload config: %s", err), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	}
	lifecycle := s.admin(s.flags.enableLifecycle, "--web.enable-lifecycle", http.HandlerFunc(reload))
	mux.Handle("POST /-/reload", lifecycle)
	mux.Handle("PUT /-/reload", lifecycle)
	mux.Handle("GET /api/v1/targets", receiver.TargetsHandler(s))
	mux.Handle("GET /api/v1/status", receiver.StatusHandler(s))
	adminAPI := func(h http.Handler) http.Handler {
		return s.admin(s.flags.enableAdminAPI, "--web.enable-admin-api", h)
	}
	s.durable.routes(mux, adminAPI)
	mux.Handle("POST /api/v1/targets/{name}/test", adminAPI(receiver.TestSendHandler(s, s.logger)))
	mux.Handle("GET /{$}", receiver.PageHandler(s, time.Now))
	// Profiles, as Prometheus and Alertmanager serve them.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return s.guardReads(mux)
}

// guardReads makes the read endpoints take the webhook's bearer token,
// when one is set, except those receiver.open_paths names.
func (s *server) guardReads(next http.Handler) http.Handler {
	guarded := map[string]http.Handler{}
	for _, p := range config.ReadPaths {
		guarded[p] = s.webhook.Reads(p, next)
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			p := r.URL.Path
			if strings.HasPrefix(p, "/debug/pprof/") {
				p = "/debug/pprof/"
			}
			if h, ok := guarded[p]; ok {
				h.ServeHTTP(rw, r)
				return
			}
		}
		next.ServeHTTP(rw, r)
	})
}

// serveAll runs the server until SIGTERM or SIGINT, reloading on SIGHUP.
func serveAll(f flags, webFlags *web.FlagConfig, logger *slog.Logger) error {
	logger.Info("starting am-fanout", "version", version.Info(), "build_context", version.BuildContext())
	setMemoryLimit(logger)
	routeOtelErrors(logger)
	s, err := newServer(f, logger)
	if err != nil {
		return err
	}
	defer s.close()
	watchCtx, stopWatch := context.WithCancel(context.Background())
	waitWatch, err := s.startWatch(watchCtx)
	if err != nil {
		stopWatch()
		return err
	}
	defer waitWatch()
	defer stopWatch()
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.ListenAndServe(srv, webFlags, logger) }()
	s.ready.Store(true)

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(signals)
	for {
		select {
		case err := <-serveErr:
			return err
		case sig := <-signals:
			if sig == syscall.SIGHUP {
				_ = s.reload()
				continue
			}
			logger.Info("shutting down, letting fan-outs in flight finish", "signal", sig, "grace", f.shutdownWait)
			s.ready.Store(false)
			// Webhooks waiting for first attempts answer now: the HTTP
			// shutdown below waits for every request in flight.
			s.durable.box.EndWaits()
			ctx, cancel := context.WithTimeout(context.Background(), f.shutdownWait)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			s.durable.drain(ctx)
			if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			logger.Info("am-fanout stopped")
			return nil
		}
	}
}

// admin guards a state-changing endpoint behind its flag and the
// webhook's bearer token. --web.config.file's basic auth and mTLS, when
// set, guard every endpoint before this.
func (s *server) admin(enabled bool, flag string, h http.Handler) http.Handler {
	return receiver.Admin(enabled, flag, s.webhook.Authorized, h)
}
