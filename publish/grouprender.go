package publish

import (
	"context"
	"net/http"

	"github.com/am-fanout/am-fanout/core"
)

// GroupRenderer is implemented by HTTP publishers that deliver whole
// notifications: it builds the requests PublishGroup would send, without
// sending them, for dry runs.
type GroupRenderer interface {
	RenderGroup(ctx context.Context, n *core.Notification) ([]*http.Request, error)
}
