package benchmarks

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

// binary is am-fanout built from this tree, once, by the first benchmark
// that needs it; TestMain removes its folder.
var binary struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	if addr := os.Getenv(forwarderEnv); addr != "" {
		// This process is the forwarder a benchmark started (forwarder.go).
		os.Exit(serveForwarder(addr, strings.Split(os.Getenv(forwarderTargetsEnv), ","), os.Getenv(forwarderStoreEnv)))
	}
	code := m.Run()
	if binary.dir != "" {
		os.RemoveAll(binary.dir)
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "benchmarks: goroutines leaked: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// fanoutBinary returns the path of am-fanout, building it on first use, so
// that `go test ./...`, which runs no benchmark, builds nothing.
func fanoutBinary(b *testing.B) string {
	b.Helper()
	binary.once.Do(func() {
		binary.dir, binary.err = os.MkdirTemp("", "am-fanout-bench-")
		if binary.err != nil {
			return
		}
		binary.path = filepath.Join(binary.dir, "am-fanout")
		binary.err = build(binary.path)
	})
	if binary.err != nil {
		b.Fatalf("building am-fanout: %v", binary.err)
	}
	return binary.path
}

// build compiles ./cmd/am-fanout of the module these benchmarks belong to
// into out, without the race detector, as it ships.
func build(out string) error {
	mod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("locating the module: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(mod)))
	cmd := exec.Command("go", "build", "-o", out, "./cmd/am-fanout")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%w\n%s", err, msg)
	}
	return nil
}
