package core

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRenderMemoRendersEachKindOnce(t *testing.T) {
	m := new(RenderMemo)
	var calls atomic.Int32
	render := func(body string) func() ([]byte, error) {
		return func() ([]byte, error) {
			calls.Add(1)
			return []byte(body), nil
		}
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, err := m.Body("webhook\x00enriched", render("one")); err != nil || string(got) != "one" {
				t.Errorf("Body = %q, %v; want the first rendering", got, err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("eight attempts of one kind rendered %d times, want once", n)
	}
	if got, _ := m.Body("webhook\x00alertmanager", render("two")); string(got) != "two" {
		t.Errorf("another kind got %q, want its own rendering", got)
	}
}

func TestRenderMemoKeepsAFailedRendering(t *testing.T) {
	m := new(RenderMemo)
	fail := errors.New("boom")
	calls := 0
	for range 2 {
		if _, err := m.Body("k", func() ([]byte, error) { calls++; return nil, fail }); !errors.Is(err, fail) {
			t.Errorf("Body error = %v, want %v", err, fail)
		}
	}
	if calls != 1 {
		t.Errorf("a failed rendering ran %d times, want once: it fails alike for every target", calls)
	}
}

func TestNoRenderMemoRendersEveryTime(t *testing.T) {
	var m *RenderMemo
	if RenderMemoFrom(context.Background()) != nil || RenderMemoFrom(WithRenderMemo(context.Background(), nil)) != nil {
		t.Fatal("a context without a memo gave one")
	}
	calls := 0
	for range 2 {
		_, _ = m.Body("k", func() ([]byte, error) { calls++; return nil, nil })
	}
	if calls != 2 {
		t.Errorf("without a memo, two bodies rendered %d times, want 2", calls)
	}
	memo := new(RenderMemo)
	if RenderMemoFrom(WithRenderMemo(context.Background(), memo)) != memo {
		t.Error("the context did not carry its memo")
	}
}
