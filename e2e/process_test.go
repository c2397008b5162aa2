package e2e

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// process is a program a test started. Its output is kept and shown when
// the test fails; the test's cleanup stops it.
type process struct {
	name    string
	cmd     *exec.Cmd
	out     lockedBuffer
	exited  chan struct{}
	waitErr error
	// stopWithin is how long stop waits after SIGTERM; 0 is 10 s.
	stopWithin time.Duration
}

// lockedBuffer collects a process's stdout and stderr while tests read it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startProcess starts a program and registers its stop with the test.
func startProcess(t testing.TB, name, path string, args ...string) *process {
	t.Helper()
	p := &process{name: name, exited: make(chan struct{})}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// stop ends the process the way an operator would, SIGTERM first, and
// kills it, after a SIGQUIT for its goroutines' stacks, if it does not exit
// within a grace period. An unclean exit and a
// data race the race detector found in it fail the test.
func (p *process) stop(t testing.TB) {
	if !p.hasExited() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
			if p.waitErr != nil {
				t.Errorf("%s exited with %v on SIGTERM, want a clean shutdown", p.name, p.waitErr)
			}
		case <-time.After(cmp.Or(p.stopWithin, 10*time.Second)):
			t.Errorf("%s did not exit within %s of SIGTERM; killing it", p.name, cmp.Or(p.stopWithin, 10*time.Second))
			// SIGQUIT first: a Go process writes every goroutine's stack
			// to its output, which says what held its shutdown.
			_ = p.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-p.exited:
			case <-time.After(5 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
	}
	out := p.out.String()
	if strings.Contains(out, "WARNING: DATA RACE") {
		t.Errorf("%s: the race detector found a data race (output below)", p.name)
	}
	if t.Failed() {
		t.Logf("---- output of %s (%v) ----\n%s---- end of %s ----", p.name, p.waitErr, out, p.name)
	}
}

func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// startServing starts a program that serves HTTP on a loopback port of
// its own and waits until its /-/ready answers 200. args builds the
// command line for the address to listen on. A port taken between picking
// and binding is retried with another.
func startServing(t testing.TB, name, path string, args func(addr string) []string) (*process, string) {
	t.Helper()
	const attempts = 3
	for i := 1; ; i++ {
		addr := freeLoopbackAddr(t)
		p, err := serveAt(t, name, path, addr, args)
		if err == nil {
			return p, addr
		}
		if i < attempts && p.hasExited() && strings.Contains(p.out.String(), "address already in use") {
			continue
		}
		t.Fatalf("%s did not become ready on %s: %v", name, addr, err)
	}
}

// serveAt starts a program that serves HTTP on addr, such as the address
// of a killed process being restarted where its clients expect it, and
// waits until its /-/ready answers 200.
func serveAt(t testing.TB, name, path, addr string, args func(addr string) []string) (*process, error) {
	t.Helper()
	p := startProcess(t, name, path, args(addr)...)
	return p, waitReady(p, "http://"+addr+"/-/ready", 30*time.Second)
}

// freeLoopbackAddr returns a loopback address whose port was free a moment
// ago.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("reserving a loopback port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("releasing %s: %v", addr, err)
	}
	return addr
}

// waitReady polls url until it answers 200, the process exits or the
// timeout passes.
func waitReady(p *process, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := "no answer yet"
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-p.exited:
			return fmt.Errorf("%s exited (%v) before it was ready", p.name, p.waitErr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s, last answer: %s", timeout, last)
		}
	}
}

// waitFor polls cond until it holds, failing the test when timeout passes
// first. cond describes what it saw, for the failure message.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, seen := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last seen: %s", timeout, what, seen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
