package core

import (
	"context"
	"sync"
)

// RenderMemo holds the bodies rendered from one accepted alert, so that
// the targets it fans out to that send the same body (webhooks of one
// format, say) encode it once. It lives with the alert's deliveries as
// accepted, until their first attempts; a delivery whose alert changed
// since (the classifier, a fallback's marks) or read back from the store
// has none. A nil memo renders every time.
type RenderMemo struct {
	mu     sync.Mutex
	bodies map[string]*memoBody
}

type memoBody struct {
	once sync.Once
	data []byte
	err  error
}

// Body returns the body kind names, rendering it with render the first
// time it is asked for. kind must name everything the body depends on
// besides the alert (the publisher and its format). The bytes returned
// are shared: callers must not change them.
func (m *RenderMemo) Body(kind string, render func() ([]byte, error)) ([]byte, error) {
	if m == nil {
		return render()
	}
	m.mu.Lock()
	if m.bodies == nil {
		m.bodies = make(map[string]*memoBody, 1)
	}
	b := m.bodies[kind]
	if b == nil {
		b = &memoBody{}
		m.bodies[kind] = b
	}
	m.mu.Unlock()
	b.once.Do(func() { b.data, b.err = render() })
	return b.data, b.err
}

type memoKey struct{}

// WithRenderMemo returns ctx carrying m for the attempt it starts.
func WithRenderMemo(ctx context.Context, m *RenderMemo) context.Context {
	if m == nil {
		return ctx
	}
	return context.WithValue(ctx, memoKey{}, m)
}

// RenderMemoFrom is the memo ctx carries, nil if none.
func RenderMemoFrom(ctx context.Context) *RenderMemo {
	m, _ := ctx.Value(memoKey{}).(*RenderMemo)
	return m
}
