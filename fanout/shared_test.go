package fanout

import "github.com/am-fanout/am-fanout/outbox"

var _ SharedStore = (*outbox.JetStreamStore)(nil)

var _ Lease = (*outbox.JetStreamLease)(nil)
