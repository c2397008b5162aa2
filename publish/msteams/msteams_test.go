package msteams

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/am-fanout/am-fanout/publish/msteams/msteamstest"

	commoncfg "github.com/prometheus/common/config"

	"github.com/am-fanout/am-fanout/core"
	"github.com/am-fanout/am-fanout/publish"
	"github.com/am-fanout/am-fanout/publish/publishtest"
)

const teamsTestSig = "teams-sig-SECRET"

func newTestMSTeams(t *testing.T, f *msteamstest.Teams, o publish.Options, tmpl publish.Templates) *msteams {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Config{URL: publish.Secret(f.URL()), HTTPConfig: commoncfg.DefaultHTTPClientConfig, Templates: tmpl}
	m, err := newMSTeams("teams-test", s, o)
	if err != nil {
		t.Fatalf("newMSTeams: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// teamsCard decodes the card of a sent message.
func teamsCard(t *testing.T, body []byte) adaptiveCardView {
	t.Helper()
	var msg struct {
		Attachments []struct {
			Content adaptiveCardView `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || len(msg.Attachments) != 1 {
		t.Fatalf("message is not one card: %v", err)
	}
	return msg.Attachments[0].Content
}

type adaptiveCardView struct {
	Body []struct {
		Type  string `json:"type"`
		Text  string `json:"text"`
		Items []struct {
			Text string `json:"text"`
		} `json:"items"`
		Facts []cardFact `json:"facts"`
	} `json:"body"`
	Actions []cardAction `json:"actions"`
}

func (c adaptiveCardView) title() string { return c.Body[0].Items[0].Text }
func (c adaptiveCardView) text() string  { return c.Body[1].Text }

func (c adaptiveCardView) facts() []cardFact {
	for _, el := range c.Body {
		if el.Type == "FactSet" {
			return el.Facts
		}
	}
	return nil
}

func TestMSTeamsPostsAnAdaptiveCard(t *testing.T) {
	for _, status := range []core.AlertStatus{core.StatusFiring, core.StatusResolved} {
		t.Run(string(status), func(t *testing.T) {
			f := msteamstest.NewTeams(t, teamsTestSig)
			m := newTestMSTeams(t, f, publish.Options{}, nil)
			if err := m.Publish(context.Background(), publishtest.VendorAlert(status)); err != nil {
				t.Fatalf("Publish: want success, got %v", err)
			}
			got := f.Bodies()
			if len(got) != 1 {
				t.Fatalf("Teams received %d messages, want 1", len(got))
			}
			publishtest.AssertGolden(t, string(status)+".json", got[0])
		})
	}
}

func TestMSTeamsTemplates(t *testing.T) {
	f := msteamstest.NewTeams(t, teamsTestSig)
	m := newTestMSTeams(t, f, publish.Options{}, publish.Templates{
		"title": `{{ .Alert.Labels.service }} on fire`,
		"text":  `{{ .Alert.Annotations.team }} please look`,
	})
	if err := m.Publish(context.Background(), publishtest.VendorAlert(core.StatusFiring)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	card := teamsCard(t, f.Bodies()[0])
	if card.title() != "checkout on fire" || card.text() != "payments please look" {
		t.Errorf("title, text = %q, %q; want the templates' output", card.title(), card.text())
	}
}

func TestMSTeamsStaysUnderTheSizeLimit(t *testing.T) {
	manyLabels := func(a *core.EnrichedAlert) {
		for i := range 400 {
			a.Alert.Labels[fmt.Sprintf("label_%03d", i)] = strings.Repeat("v", 100)
		}
	}
	hugeText := func(a *core.EnrichedAlert) {
		a.Alert.Annotations["summary"] = strings.Repeat("<error & trace> ", 10000)
	}
	hugeTitle := func(a *core.EnrichedAlert) {
		hugeText(a)
		a.Alert.Labels["alertname"] = strings.Repeat("Ä", 30000)
	}
	tests := []struct {
		name  string
		edit  func(*core.EnrichedAlert)
		check func(t *testing.T, c adaptiveCardView)
	}{
		{
			name: "facts are dropped from the end, with a note saying how many",
			edit: manyLabels,
			check: func(t *testing.T, c adaptiveCardView) {
				facts := c.facts()
				if len(facts) == 0 || len(facts) >= 400 || facts[0].Title != "Severity" {
					t.Errorf("kept %d facts starting with %v; want some, not all, severity first", len(facts), facts[:min(1, len(facts))])
				}
				note := c.Body[len(c.Body)-1].Text
				if want := fmt.Sprintf("… %d more labels and annotations left out", 400+8-len(facts)); !strings.HasPrefix(note, want) {
					t.Errorf("note = %q, want it to start with %q", note, want)
				}
				if c.title() != "[FIRING] HighErrorRate" || len(c.Actions) != 4 {
					t.Errorf("title %q and %d buttons should be untouched", c.title(), len(c.Actions))
				}
			},
		},
		{
			name: "a huge text drops all but the first facts, then is cut visibly",
			edit: hugeText,
			check: func(t *testing.T, c adaptiveCardView) {
				if !strings.HasSuffix(c.text(), "…") || len(c.text()) < 10000 {
					t.Errorf("text of %d bytes, want it cut with … yet still long", len(c.text()))
				}
				if got := len(c.facts()); got != teamsFirstFacts {
					t.Errorf("kept %d facts, want the first %d kept while the text is cut", got, teamsFirstFacts)
				}
			},
		},
		{
			name: "a huge title is cut once the text is gone",
			edit: hugeTitle,
			check: func(t *testing.T, c adaptiveCardView) {
				if c.text() != "" || !strings.HasSuffix(c.title(), "…") {
					t.Errorf("text %d bytes, title ends %q; want no text and a cut title", len(c.text()), c.title()[len(c.title())-3:])
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := msteamstest.NewTeams(t, teamsTestSig)
			m := newTestMSTeams(t, f, publish.Options{}, nil)
			a := publishtest.VendorAlert(core.StatusFiring)
			tc.edit(a)
			// The fake answers 413 over 28 KB, so success proves the size.
			if err := m.Publish(context.Background(), a); err != nil {
				t.Fatalf("Publish: want success, got %v", err)
			}
			body := f.Bodies()[0]
			if len(body) > teamsMaxBytes || len(body) < teamsMaxBytes-2000 {
				t.Errorf("body is %d bytes, want just under %d", len(body), teamsMaxBytes)
			}
			tc.check(t, teamsCard(t, body))
		})
	}
}

// TestMSTeamsKeepsTheHeadOfAnOversizedCard: an alert whose silence link
// alone is 17 KB, with a long text and many labels, still shows its whole
// title with the status, the severity and the first facts; the long link
// is the first thing dropped, and only when the card does not fit.
func TestMSTeamsKeepsTheHeadOfAnOversizedCard(t *testing.T) {
	hugeSilence := func(a *core.EnrichedAlert) {
		for i, l := range a.Links {
			if l.Name == core.LinkSilence {
				a.Links[i].URL = "http://alertmanager.example.com/#/silences/new?filter=" + strings.Repeat("%7Bpod%3D%22checkout-7d9f%22%7D", 17000/30)
			}
		}
	}
	tests := []struct {
		name        string
		oversized   bool
		wantButtons []string
		wantNote    string
	}{
		{name: "a long link stays on a card that fits", wantButtons: []string{"Source", "Runbook", "Dashboard", "Silence"}},
		{name: "an oversized card drops the long link before any fact", oversized: true,
			wantButtons: []string{"Source", "Runbook", "Dashboard"}, wantNote: "and 1 link left out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := msteamstest.NewTeams(t, teamsTestSig)
			m := newTestMSTeams(t, f, publish.Options{}, nil)
			a := publishtest.VendorAlert(core.StatusFiring)
			hugeSilence(a)
			if tc.oversized {
				a.Alert.Annotations["summary"] = strings.Repeat("checkout failing; ", 1000)
				for i := range 100 {
					a.Alert.Labels[fmt.Sprintf("label_%03d", i)] = strings.Repeat("v", 100)
				}
			}
			// The fake refuses what Teams would not post, so success proves the size.
			if err := m.Publish(context.Background(), a); err != nil {
				t.Fatalf("Publish: want success, got %v", err)
			}
			card := teamsCard(t, f.Bodies()[0])
			if card.title() != "[FIRING] HighErrorRate" {
				t.Errorf("title = %q, want the whole title with its status", card.title())
			}
			all, kept := teamsFacts(a), card.facts()
			if len(kept) < 5 || !slices.Equal(kept[:5], all[:5]) {
				t.Errorf("kept facts %v, want at least the first five %v", kept[:min(5, len(kept))], all[:5])
			}
			if len(kept) == 0 || kept[0] != (cardFact{Title: "Severity", Value: "critical"}) {
				t.Errorf("first fact %v, want the severity", kept[:min(1, len(kept))])
			}
			var buttons []string
			for _, act := range card.Actions {
				buttons = append(buttons, act.Title)
			}
			if !slices.Equal(buttons, tc.wantButtons) {
				t.Errorf("buttons %v, want %v", buttons, tc.wantButtons)
			}
			if note := card.Body[len(card.Body)-1].Text; !strings.Contains(note, tc.wantNote) {
				t.Errorf("last element %q, want a note saying %q", note, tc.wantNote)
			}
		})
	}
}

func TestMSTeamsOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		answer    publishtest.Answer
		retryable bool
		code      int
		wait      time.Duration
		wantText  string
	}{
		{
			name:      "throttling reported in a 200 body is retryable",
			answer:    publishtest.Answer{Status: 200, ContentType: "text/plain; charset=utf-8", Body: msteamstest.TeamsThrottledBody},
			retryable: true, code: 429, wantText: "HTTP error 429",
		},
		{
			name:      "throttling reported in a 202 body is retryable",
			answer:    publishtest.Answer{Status: 202, Body: "Request was throttled (ApplicationThrottled)"},
			retryable: true, code: 429, wantText: "ApplicationThrottled",
		},
		{
			name:      "a 408 reported in a 200 body is retryable",
			answer:    publishtest.Answer{Status: 200, Body: "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 408 with ContextId x"},
			retryable: true, code: 408, wantText: "HTTP error 408",
		},
		{
			name:      "408 is retryable",
			answer:    publishtest.Answer{Status: 408, Body: `{"error":{"code":"RequestTimeout","message":"The request timed out"}}`},
			retryable: true, code: 408, wantText: "The request timed out",
		},
		{
			name:   "a 400 reported in a 200 body is permanent",
			answer: publishtest.Answer{Status: 200, Body: "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 400 with ContextId x"},
			code:   400, wantText: "HTTP error 400",
		},
		{
			name:      "429 with Retry-After is retryable",
			answer:    publishtest.Answer{Status: 429, RetryAfter: "22", Body: `{"error":{"code":"WorkflowTriggerIsThrottled","message":"Rate limit is exceeded. Try again in 22 seconds."}}`},
			retryable: true, code: 429, wait: 22 * time.Second, wantText: "Rate limit is exceeded",
		},
		{
			name:      "5xx is retryable",
			answer:    publishtest.Answer{Status: 502, Body: `{"error":{"code":"BadGateway","message":"upstream failed"}}`},
			retryable: true, code: 502, wantText: "upstream failed",
		},
		{
			name:   "400 is permanent",
			answer: publishtest.Answer{Status: 400, Body: `{"error":{"code":"InvalidRequestContent","message":"The input body for trigger 'manual' of type 'Request' did not match its schema definition"}}`},
			code:   400, wantText: "did not match its schema definition",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := msteamstest.NewTeams(t, teamsTestSig)
			f.Script(tc.answer)
			var logs bytes.Buffer
			m := newTestMSTeams(t, f, publish.Options{Logger: publishtest.BufferLogger(&logs)}, nil)

			err := m.Publish(context.Background(), publishtest.VendorAlert(core.StatusFiring))
			if err == nil {
				t.Fatal("Publish: want an error, got success")
			}
			if got := core.IsRetryable(err); got != tc.retryable {
				t.Errorf("retryable = %v, want %v (error: %v)", got, tc.retryable, err)
			}
			if got := core.StatusCode(err); got != tc.code {
				t.Errorf("status code = %d, want %d", got, tc.code)
			}
			if got := core.RetryAfter(err); got != tc.wait {
				t.Errorf("RetryAfter = %v, want %v", got, tc.wait)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("error %q does not say %q", err, tc.wantText)
			}
			for _, where := range []string{err.Error(), logs.String()} {
				if strings.Contains(where, "SECRET") {
					t.Errorf("the workflow signature leaked: %q", where)
				}
			}
			if tc.retryable {
				if err := m.Publish(context.Background(), publishtest.VendorAlert(core.StatusFiring)); err != nil {
					t.Errorf("second Publish: want success, got %v", err)
				}
			}
		})
	}
}

func TestMSTeamsWrongSignatureAndNetworkErrorsHideTheURL(t *testing.T) {
	f := msteamstest.NewTeams(t, teamsTestSig)
	m := newTestMSTeams(t, f, publish.Options{}, nil)
	f.Regenerate("rotated")
	err := m.Publish(context.Background(), publishtest.VendorAlert(core.StatusFiring))
	if core.StatusCode(err) != http.StatusUnauthorized || core.IsRetryable(err) {
		t.Errorf("wrong signature: want a permanent 401, got %v", err)
	}
	f.Close()
	err = m.Publish(context.Background(), publishtest.VendorAlert(core.StatusFiring))
	if err == nil || !core.IsRetryable(err) {
		t.Fatalf("closed server: want a retryable error, got %v", err)
	}
	if strings.Contains(err.Error(), "SECRET") || strings.Contains(err.Error(), "sig=") {
		t.Errorf("the URL leaked: %v", err)
	}
}

func TestCheckTeamsAnswerAcceptsSuccessBodies(t *testing.T) {
	for _, body := range []string{"", "1", `{"status":"accepted"}`} {
		if err := checkTeamsAnswer(&http.Response{StatusCode: 202, Header: http.Header{}}, []byte(body)); err != nil {
			t.Errorf("body %q: want success, got %v", body, err)
		}
	}
}
