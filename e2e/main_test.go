package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// alertmanagerVersion is the Alertmanager the tests run against. Newer tags
// do not build with go install.
const alertmanagerVersion = "0.31.1"

// bins holds the programs TestMain built or installed.
var bins struct {
	root         string // the repository
	fanout       string // am-fanout, built from this tree
	alertmanager string
	amtool       string
}

// client talks to the processes under test; its own transport lets
// TestMain close its idle connections before looking for leaks.
var client = &http.Client{Transport: &http.Transport{}, Timeout: 15 * time.Second}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "am-fanout-e2e-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := prepareBinaries(tmp); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	code := m.Run()
	client.CloseIdleConnections()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: goroutines leaked: %v\n", err)
			return 1
		}
	}
	return code
}

func prepareBinaries(tmp string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	bins.root = root
	if bins.fanout, err = buildFanout(root, tmp); err != nil {
		return err
	}
	bins.alertmanager, bins.amtool, err = installAlertmanager(filepath.Join(root, "bin"))
	return err
}

// repoRoot is the folder of the main module's go.mod, wherever the tests
// were started from.
func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("locating the module: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("locating the module: not inside a Go module")
	}
	return filepath.Dir(mod), nil
}

// buildFanout builds am-fanout from this tree, with the race detector when
// the tests run with it.
func buildFanout(root, dir string) (string, error) {
	out := filepath.Join(dir, "am-fanout")
	args := []string{"build", "-o", out}
	if raceEnabled {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "./cmd/am-fanout")...)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building am-fanout: %w\n%s", err, msg)
	}
	return out, nil
}

// installAlertmanager installs alertmanager and amtool at the pinned
// version into binDir, unless they are already there: bin/ is kept between
// runs, and `make alertmanager` fills the same folder the same way.
func installAlertmanager(binDir string) (alertmanager, amtool string, err error) {
	var missing []string
	for _, name := range []string{"alertmanager", "amtool"} {
		if installedVersion(filepath.Join(binDir, name)) != alertmanagerVersion {
			missing = append(missing, fmt.Sprintf("github.com/prometheus/alertmanager/cmd/%s@v%s", name, alertmanagerVersion))
		}
	}
	alertmanager, amtool = filepath.Join(binDir, "alertmanager"), filepath.Join(binDir, "amtool")
	if len(missing) == 0 {
		return alertmanager, amtool, nil
	}
	ldflags := "-X github.com/prometheus/common/version.Version=" + alertmanagerVersion
	cmd := exec.Command("go", append([]string{"install", "-ldflags", ldflags}, missing...)...)
	cmd.Env = append(os.Environ(), "GOBIN="+binDir)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("installing %s: %w\n%s", strings.Join(missing, " "), err, msg)
	}
	for _, path := range []string{alertmanager, amtool} {
		if v := installedVersion(path); v != alertmanagerVersion {
			return "", "", fmt.Errorf("installed %s but its --version says %q", path, v)
		}
	}
	return alertmanager, amtool, nil
}

// installedVersion is the version a program's --version prints, such as
// "0.31.1" from "alertmanager, version 0.31.1 (branch: ...)"; "" when the
// program is missing or says nothing readable.
func installedVersion(path string) string {
	out, err := exec.Command(path, "--version").CombinedOutput()
	if err != nil {
		return ""
	}
	_, rest, ok := strings.Cut(string(out), ", version ")
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, " ")
	return v
}
