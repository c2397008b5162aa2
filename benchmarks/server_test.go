package benchmarks

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// server is a running am-fanout process.
type server struct {
	cmd    *exec.Cmd
	url    string
	out    lockedBuffer
	exited chan struct{}
	err    error
	// killed says kill ended it: its exit status is no failure.
	killed bool
}

// lockedBuffer keeps the process's output for the failure message.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startServer runs am-fanout on config, listening on a loopback port of its
// own, and waits until it is ready (startProcess).
func startServer(b *testing.B, config string, args ...string) *server {
	b.Helper()
	dir := b.TempDir()
	cfg := filepath.Join(dir, "am-fanout.yml")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		b.Fatal(err)
	}
	return startProcess(b, "am-fanout", func(addr string) *exec.Cmd {
		return exec.Command(fanoutBinary(b), append([]string{
			"--config.file=" + cfg, "--web.listen-address=" + addr,
			"--storage.path=" + filepath.Join(dir, "data"),
		}, args...)...)
	})
}

// startProcess runs the command that command makes for a loopback
// address, serving /-/ready there, and waits until it is ready; what
// names it in failures. The benchmark's cleanup stops it with SIGTERM. A
// port taken between picking and binding is retried.
func startProcess(b *testing.B, what string, command func(addr string) *exec.Cmd) *server {
	b.Helper()
	for attempt := 1; ; attempt++ {
		addr := freeLoopbackAddr(b)
		s := &server{url: "http://" + addr, exited: make(chan struct{}), cmd: command(addr)}
		s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
		if err := s.cmd.Start(); err != nil {
			b.Fatalf("starting %s: %v", what, err)
		}
		go func() {
			s.err = s.cmd.Wait()
			close(s.exited)
		}()
		err := s.waitReady(30 * time.Second)
		if err == nil {
			b.Cleanup(func() { s.stop(b) })
			return s
		}
		_ = s.cmd.Process.Kill()
		<-s.exited
		if attempt < 3 && strings.Contains(s.out.String(), "address already in use") {
			continue
		}
		b.Fatalf("%s did not become ready: %v\n%s", what, err, s.out.String())
	}
}

func freeLoopbackAddr(b *testing.B) string {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("reserving a loopback port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitReady polls /-/ready until it answers 200 or the process exits.
func (s *server) waitReady(timeout time.Duration) error {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(s.url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("exited (%v) before it was ready", s.err)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s", timeout)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit, killing the process if
// it does not exit in time.
func (s *server) stop(b *testing.B) {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(15 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
			b.Errorf("am-fanout did not exit within 15s of SIGTERM")
		}
	}
	if s.err != nil && !s.killed {
		b.Errorf("am-fanout exited with %v\n%s", s.err, s.out.String())
	}
}

// kill ends the process with SIGKILL, as a crash would, and waits for
// it to exit.
func (s *server) kill() {
	s.killed = true
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// memory reads the process's resident set size now (VmRSS) and at its peak
// (VmHWM), in MiB, from /proc.
func (s *server) memory() (rss, peak float64, err error) {
	st, err := s.status("VmRSS", "VmHWM")
	if err != nil {
		return 0, 0, err
	}
	return st["VmRSS"], st["VmHWM"], nil
}

// anonymous reads the process's anonymous resident memory (RssAnon: its
// heap, stacks and runtime, what a container's limit cannot reclaim), in
// MiB. The rest of VmRSS is the store file's pages mapped in (RssFile),
// which the kernel drops under memory pressure and reads back as needed.
func (s *server) anonymous() (float64, error) {
	st, err := s.status("RssAnon")
	if err != nil {
		return 0, err
	}
	return st["RssAnon"], nil
}

// samplePeakAnonymous reads the process's anonymous memory every 20 ms
// from now on; the function it returns stops that and returns the
// highest reading (the kernel keeps no peak of it, as it does for VmHWM).
func (s *server) samplePeakAnonymous(b *testing.B) func() float64 {
	var (
		peak float64
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	read := func() {
		anon, err := s.anonymous()
		if err != nil {
			b.Error(err)
			return
		}
		peak = max(peak, anon)
	}
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			read()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 {
		close(stop)
		<-done
		read()
		return peak
	}
}

// status reads the fields named, each in kB, from /proc/<pid>/status and
// returns them in MiB; it is an error when one is missing.
func (s *server) status(fields ...string) (map[string]float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	got := map[string]float64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, _ := strings.Cut(sc.Text(), ":")
		if !slices.Contains(fields, key) {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", key, val, err)
		}
		got[key] = kb / 1024
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, k := range fields {
		if _, ok := got[k]; !ok {
			return nil, fmt.Errorf("no %s in /proc/%d/status", k, s.cmd.Process.Pid)
		}
	}
	return got, nil
}

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's
// CPU times; 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpu reads the CPU time the process has used so far (user and system),
// in seconds, from /proc/<pid>/stat.
func (s *server) cpu() (float64, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The command name, field 2, may hold spaces: count from its ")".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", s.cmd.Process.Pid)
	}
	fields := strings.Fields(string(stat[i+1:]))
	// After the name: state is field 3, utime field 14, stime field 15.
	if len(fields) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", s.cmd.Process.Pid, len(fields))
	}
	var total float64
	for _, f := range fields[11:13] {
		ticks, err := strconv.ParseFloat(f, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", s.cmd.Process.Pid, err)
		}
		total += ticks / clockTicks
	}
	return total, nil
}

// selfCPU is the CPU time the benchmark's own process has used so far,
// in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// counters scrapes the outbox committer's counters from /metrics (a
// store without them, JetStream, has none) and the Go runtime's
// allocation counters, which count the same on a busy machine as on an
// idle one.
func (s *server) counters(b *testing.B) map[string]float64 {
	b.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		b.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || !strings.HasPrefix(name, "am_fanout_outbox_commit") && !strings.HasPrefix(name, "am_fanout_outbox_checkpoint") && name != "am_fanout_outbox_bytes" && name != "go_memstats_mallocs_total" && name != "go_memstats_alloc_bytes_total" {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = v
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatalf("reading /metrics: %v", err)
	}
	return out
}
