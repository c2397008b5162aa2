// Command am-fanout receives Alertmanager's webhook notifications and
// delivers every alert, enriched and in parallel, to many targets.
package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"

	"github.com/am-fanout/am-fanout/receiver"
)

// userAgent is sent with every request to a target.
func userAgent() string {
	if version.Version == "" {
		return "am-fanout/unknown"
	}
	return "am-fanout/" + version.Version
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// flags are the command line of every subcommand.
type flags struct {
	configFile   string
	targetsDir   string
	storagePath  string
	maxBodyBytes int64
	// maxInflightBytes and bodyWait bound the webhook bodies handled at
	// once (receiver.Limits).
	maxInflightBytes int64
	bodyWait         time.Duration
	shutdownWait     time.Duration
	// watchDebounce is the quiet period after file changes before a
	// reload.
	watchDebounce time.Duration
	target        string
	payload       string
	// enableLifecycle opens POST /-/reload; enableAdminAPI opens the
	// dead-letter replay and purge. Both are off by default, as
	// Prometheus's --web.enable-lifecycle and --web.enable-admin-api.
	enableLifecycle bool
	enableAdminAPI  bool
}

func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("am-fanout", "Receives Alertmanager webhook notifications and delivers every alert, in parallel, to many targets.")
	app.Version(version.Print("am-fanout"))
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)

	var f flags
	app.Flag("config.file", "am-fanout configuration file.").Default("am-fanout.yml").StringVar(&f.configFile)
	app.Flag("targets.dir", "Directory of *.yml/*.yaml files holding more targets (for Kubernetes Secrets); watched and reloaded.").StringVar(&f.targetsDir)

	serve := app.Command("serve", "Run the webhook receiver (the default).").Default()
	webFlags := kingpinflag.AddFlags(serve, ":9099")
	serve.Flag("storage.path", "Directory for state that survives restarts.").Default("data/").StringVar(&f.storagePath)
	serve.Flag("webhook.max-body-bytes", "Largest webhook body accepted; larger ones get 413.").Default(fmt.Sprint(receiver.DefaultMaxBodyBytes)).Int64Var(&f.maxBodyBytes)
	serve.Flag("webhook.max-inflight-bytes", "Bodies being read and handled at once, in bytes; past it a webhook waits --webhook.body-wait for room, then gets 503 and Alertmanager resends.").Default(fmt.Sprint(receiver.DefaultMaxInflightBytes)).Int64Var(&f.maxInflightBytes)
	serve.Flag("webhook.body-wait", "How long a webhook waits for room among the bodies in flight before a 503.").Default(receiver.DefaultBodyWait.String()).DurationVar(&f.bodyWait)
	serve.Flag("web.shutdown-timeout", "How long a shutdown waits for fan-outs in flight.").Default("30s").DurationVar(&f.shutdownWait)
	serve.Flag("web.enable-lifecycle", "Enable reloading over HTTP (POST /-/reload). SIGHUP and the file watcher work without it.").BoolVar(&f.enableLifecycle)
	serve.Flag("web.enable-admin-api", "Enable the dead-letter replay and purge endpoints and test sends (POST /api/v1/targets/NAME/test).").BoolVar(&f.enableAdminAPI)
	serve.Flag("config.watch-debounce", "Quiet period after changes to the config file or targets directory before they are reloaded.").Default("500ms").DurationVar(&f.watchDebounce)
	logCfg := &promslog.Config{}
	promslogflag.AddFlags(app, logCfg)

	checkCmd := app.Command("check-config", "Validate the configuration, list the targets and exit.")
	renderCmd := app.Command("render", "Print the HTTP requests each matching target would receive for a payload; nothing is sent.")
	renderCmd.Flag("target", "Render for this target only (default: every target).").StringVar(&f.target)
	renderCmd.Flag("payload", "Alertmanager webhook payload (JSON file).").Required().StringVar(&f.payload)

	testCmd := app.Command("test", "Send a test notification, then its resolve, to one target now, and print the requests, the answers and the outcomes.")
	testCmd.Flag("target", "The target to send to.").Required().StringVar(&f.target)
	testCmd.Flag("payload", "Alertmanager webhook payload (JSON file) whose alerts are sent, marked as tests (default: one AmFanoutTest alert).").StringVar(&f.payload)

	var df deliveryFlags
	deliveriesCmd := app.Command("deliveries", "List the recent deliveries of a running am-fanout and every attempt's outcome (GET /api/v1/deliveries).")
	deliveriesCmd.Flag("url", "The running am-fanout.").Default("http://127.0.0.1:9099").StringVar(&df.url)
	deliveriesCmd.Flag("http.config.file", "HTTP client configuration (TLS, basic auth, bearer token) to reach it, as amtool's.").StringVar(&df.httpConfigFile)
	deliveriesCmd.Flag("fingerprint", "Only the deliveries of this alert.").StringVar(&df.fingerprint)
	deliveriesCmd.Flag("target", "Only the deliveries to this target.").StringVar(&df.target)
	deliveriesCmd.Flag("status", "Only firing or resolved alerts.").EnumVar(&df.status, "firing", "resolved")
	deliveriesCmd.Flag("state", "Only pending, delivered or dead deliveries.").EnumVar(&df.state, "pending", "delivered", "dead")
	deliveriesCmd.Flag("limit", "At most this many, newest first (1 to 1000).").Default("100").IntVar(&df.limit)
	deliveriesCmd.Flag("output", "table or json.").Default("table").EnumVar(&df.output, "table", "json")

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "am-fanout: %v\n", err)
		return 2
	}
	logCfg.Writer = stderr
	logger := promslog.New(logCfg)
	switch cmd {
	case checkCmd.FullCommand():
		return checkConfig(f, stdout, stderr)
	case renderCmd.FullCommand():
		return render(f, stdout, stderr, logger)
	case testCmd.FullCommand():
		return testTarget(f, stdout, stderr, logger)
	case deliveriesCmd.FullCommand():
		return deliveries(df, stdout, stderr)
	}
	if err := serveAll(f, webFlags, logger); err != nil {
		logger.Error("am-fanout stopped", "err", err)
		return 1
	}
	return 0
}
