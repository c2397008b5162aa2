package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/outbox"
)

// deliveryFlags are the flags of `am-fanout deliveries`.
type deliveryFlags struct {
	url            string
	httpConfigFile string
	fingerprint    string
	target         string
	status         string
	state          string
	limit          int
	output         string
}

// deliveries prints the recent deliveries of a running am-fanout, as GET
// /api/v1/deliveries lists them.
func deliveries(f deliveryFlags, stdout, stderr io.Writer) int {
	client := &http.Client{Timeout: 30 * time.Second}
	if f.httpConfigFile != "" {
		cfg, _, err := commoncfg.LoadHTTPConfigFile(f.httpConfigFile)
		if err != nil {
			fmt.Fprintf(stderr, "FAILED: --http.config.file: %v\n", err)
			return 1
		}
		if client, err = commoncfg.NewClientFromConfig(*cfg, "am-fanout"); err != nil {
			fmt.Fprintf(stderr, "FAILED: --http.config.file: %v\n", err)
			return 1
		}
		client.Timeout = 30 * time.Second
	}
	q := url.Values{}
	for k, v := range map[string]string{"fingerprint": f.fingerprint, "target": f.target, "status": f.status, "state": f.state} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.limit > 0 {
		q.Set("limit", strconv.Itoa(f.limit))
	}
	u := strings.TrimRight(f.url, "/") + "/api/v1/deliveries?" + q.Encode()
	resp, err := client.Get(u)
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		fmt.Fprintf(stderr, "FAILED: reading the answer: %v\n", err)
		return 1
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "FAILED: %s answered %s: %s\n", f.url, resp.Status, strings.TrimSpace(string(body)))
		return 1
	}
	if f.output == "json" {
		_, _ = stdout.Write(body)
		return 0
	}
	var ans struct {
		Deliveries []outbox.History `json:"deliveries"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		fmt.Fprintf(stderr, "FAILED: the answer is not a delivery list: %v\n", err)
		return 1
	}
	printDeliveries(stdout, ans.Deliveries)
	return 0
}

func printDeliveries(w io.Writer, list []outbox.History) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCEPTED\tID\tTARGET\tALERT\tSTATUS\tSTATE\tATTEMPTS\tLAST OUTCOME")
	for _, h := range list {
		alert := h.AlertName
		if h.Group {
			alert = fmt.Sprintf("%s (group of %d)", alert, len(h.Fingerprints))
		} else if len(h.Fingerprints) == 1 {
			alert = fmt.Sprintf("%s %s", alert, h.Fingerprints[0])
		}
		last := ""
		if n := len(h.Attempts); n > 0 {
			a := h.Attempts[n-1]
			last = a.Outcome
			if a.StatusCode != 0 {
				last += fmt.Sprintf(" %d", a.StatusCode)
			}
			if a.SkipReason != "" {
				last += " " + a.SkipReason
			}
			if a.Error != "" {
				last += ": " + a.Error
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", h.AcceptedAt.Format(time.RFC3339), h.ID, h.Target,
			alert, h.Status, h.State, len(h.Attempts)+h.AttemptsOmitted, last)
	}
	tw.Flush()
}
