package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/am-fanout/am-fanout/core"
)

// ProbeStatus is the outcome of a target's last probe.
type ProbeStatus struct {
	At       time.Time
	Duration time.Duration
	// Error says why the probe failed; empty when it succeeded.
	Error string
}

// RecordProbe updates the target's health with the outcome of a probe. A
// probe that succeeds clears the failures, so that a target that went
// down recovers as soon as it answers again; one that fails counts as a
// failure. Probes stay out of the window, which measures deliveries.
func (m *Monitor) RecordProbe(name string, took time.Duration, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.record(name)
	ps := &ProbeStatus{At: m.opts.Now(), Duration: took}
	t.probe = ps
	if err == nil {
		t.failures, t.rejected = 0, false
		return
	}
	ps.Error = err.Error()
	t.failures++
	t.rejected = false
	t.lastFailure, t.lastError = ps.At, "probe: "+ps.Error
}

// LastProbe returns the outcome of the target's last probe, if it was
// probed.
func (m *Monitor) LastProbe(name string) (ProbeStatus, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if t := m.targets[name]; t != nil && t.probe != nil {
		return *t.probe, true
	}
	return ProbeStatus{}, false
}

// forgetProbe drops the target's last probe once it is no longer probed.
func (m *Monitor) forgetProbe(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.targets[name]; t != nil {
		t.probe = nil
	}
}

// Prober runs the probes of the targets that have one, each in a goroutine
// it owns, and feeds their outcomes to a Monitor.
type Prober struct {
	monitor *Monitor
	client  *http.Client
	// OnUp, when set before the first Update, is told every target a
	// probe found up, so that a failing target's lane sends at once.
	OnUp func(name string)

	mu      sync.Mutex
	running map[string]*probeRun
}

type probeRun struct {
	probe  core.Probe
	cancel context.CancelFunc
	done   chan struct{}
}

// NewProber returns a prober that runs no probe yet.
func NewProber(m *Monitor) *Prober {
	return &Prober{
		monitor: m,
		// No keep-alives: probes are rare, and an idle connection would
		// hold a goroutine past Stop.
		client:  &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: http.ProxyFromEnvironment}},
		running: make(map[string]*probeRun),
	}
}

// Update makes probes the set being run, by target name: an unchanged
// probe keeps running, a changed or removed one is stopped (and Update
// waits for it), a new one starts with a probe right away.
func (p *Prober) Update(probes map[string]core.Probe) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var stopped []string
	for name, r := range p.running {
		if pr, ok := probes[name]; !ok || pr != r.probe {
			r.cancel()
			<-r.done
			delete(p.running, name)
			stopped = append(stopped, name)
		}
	}
	for _, name := range stopped {
		if _, ok := probes[name]; !ok {
			p.monitor.forgetProbe(name)
		}
	}
	for name, pr := range probes {
		if _, ok := p.running[name]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &probeRun{probe: pr, cancel: cancel, done: make(chan struct{})}
		p.running[name] = r
		go p.run(ctx, name, r)
	}
}

// Stop stops every probe and waits for them.
func (p *Prober) Stop() { p.Update(nil) }

func (p *Prober) run(ctx context.Context, name string, r *probeRun) {
	defer close(r.done)
	tick := time.NewTicker(r.probe.Interval)
	defer tick.Stop()
	for {
		p.once(ctx, name, r.probe)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *Prober) once(ctx context.Context, name string, pr core.Probe) {
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, pr.Timeout)
	err := p.check(cctx, pr)
	cancel()
	if ctx.Err() != nil {
		return // stopped, not an outcome of the target
	}
	p.monitor.RecordProbe(name, time.Since(start), err)
	if err == nil && p.OnUp != nil {
		p.OnUp(name)
	}
}

func (p *Prober) check(ctx context.Context, pr core.Probe) error {
	if pr.HTTPGet == "" {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", pr.TCP)
		if err != nil {
			return fmt.Errorf("tcp: %w", err)
		}
		return c.Close()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pr.HTTPGet, http.NoBody)
	if err != nil {
		return errors.New("GET: invalid URL")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		// url.Error holds the URL, which may hold a token.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("GET: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET: HTTP %d", resp.StatusCode)
	}
	return nil
}
