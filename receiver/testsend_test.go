package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fixedSender answers every test send with its report or error, and
// remembers the targets asked for.
type fixedSender struct {
	report *TestReport
	err    error
	asked  []string
}

func (s *fixedSender) SendTest(_ context.Context, target string) (*TestReport, error) {
	s.asked = append(s.asked, target)
	return s.report, s.err
}

func TestTestSendHandler(t *testing.T) {
	delivered := &TestReport{Target: "chat", Type: "slack", ID: "x", Delivered: true, Steps: []TestStep{
		{Alert: "AmFanoutTest", Status: "firing", Outcome: TestDelivered},
		{Alert: "AmFanoutTest", Status: "resolved", Outcome: TestDelivered},
	}}
	failed := &TestReport{Target: "chat", Type: "slack", ID: "x", Steps: []TestStep{
		{Alert: "AmFanoutTest", Status: "firing", Outcome: TestPermanent, StatusCode: 404, Error: "HTTP 404: no_service"},
	}}
	for _, tc := range []struct {
		name     string
		sender   *fixedSender
		wantCode int
		want     string // in the answer
	}{
		{"every step delivered answers 200 with the steps", &fixedSender{report: delivered}, http.StatusOK, `"outcome":"delivered"`},
		{"a failed step answers 502 with the vendor's answer", &fixedSender{report: failed}, http.StatusBadGateway, "HTTP 404: no_service"},
		{"an unknown target answers 404 naming the known ones",
			&fixedSender{err: &UnknownTargetError{Name: "nope", Known: []string{"chat", "pd"}}}, http.StatusNotFound, "the targets are: chat, pd"},
		{"any other error answers 500", &fixedSender{err: errors.New("store closed")}, http.StatusInternalServerError, "store closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mux := http.NewServeMux()
			mux.Handle("POST /api/v1/targets/{name}/test", TestSendHandler(tc.sender, slog.New(slog.DiscardHandler)))
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/api/v1/targets/chat/test", nil))
			assert.Equal(t, tc.wantCode, rec.Code, rec.Body.String())
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Contains(t, rec.Body.String(), tc.want)
			assert.Equal(t, []string{"chat"}, tc.sender.asked, "the handler must test the target named in the path")
			var v map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v), "the answer is JSON")
		})
	}
}

func TestUnknownTargetErrorWithoutTargets(t *testing.T) {
	err := &UnknownTargetError{Name: "chat"}
	if !strings.Contains(err.Error(), "no targets are configured") {
		t.Errorf("with no targets, the error should say so: %q", err.Error())
	}
}

// TestStatusPageSendTestButton: the page offers a "Send test" button per
// target only when the admin API is enabled.
func TestStatusPageSendTestButton(t *testing.T) {
	src := sampleSource()
	page := getPage(t, src)
	assert.NotContains(t, page, "Send test", "without the admin API the page offers no test send")

	src.status.AdminAPI = true
	page = getPage(t, src)
	for _, ts := range src.targets {
		assert.Contains(t, page, `<form class="send-test" method="post" action="/api/v1/targets/`+ts.Name+`/test">`,
			"target %s has no Send test button", ts.Name)
	}
	assert.Equal(t, len(src.targets), strings.Count(page, ">Send test</button>"), "one button per target")
	assert.Contains(t, page, "am-fanout test --target=NAME", "the page says what to use when a bearer token is set")
}
