package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Watch calls fn with every delivery accepted after those Load gave (or,
// without Load, after Watch started), by any replica, in the order of the
// slots' revisions, until ctx ends. It follows the slots' bucket: each
// change naming a pending delivery is an acceptance. A delivery no longer
// pending when its change is read is skipped.
func (s *JetStreamStore) Watch(ctx context.Context, fn func(*Candidate)) error {
	from := s.watchFrom.Load()
	if from == 0 {
		st, err := s.stream(ctx, "KV_"+s.names.latest)
		if err != nil {
			return fmt.Errorf("nats store: watching: %w", err)
		}
		from = st.CachedInfo().State.LastSeq + 1
	}
	cons, err := again(ctx, func(ctx context.Context) (jetstream.Consumer, error) {
		return s.js.OrderedConsumer(ctx, "KV_"+s.names.latest, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
		})
	})
	if err != nil {
		return fmt.Errorf("nats store: watching: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("nats store: watching: %w", err)
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("nats store: watching: %w", err)
		}
		meta, err := m.Metadata()
		if err != nil || (m.Headers() != nil && m.Headers().Get("KV-Operation") != "") {
			continue
		}
		st, ok := decodeSlot(m.Data())
		if !ok || st.Pending == 0 {
			continue
		}
		d, err := s.Read(st.Pending)
		if err != nil {
			s.opts.Store.Logger.Warn("reading a delivery another replica accepted failed; it is loaded at the next start", "id", st.Pending, "err", err)
			continue
		}
		if d == nil {
			continue
		}
		data, _ := json.Marshal(d)
		fn(&Candidate{Delivery: d, size: len(data), State: StateAccepted, Seq: meta.Sequence.Stream})
	}
}

// scan calls fn with the messages of st from sequence from on, of the
// subject filter ("" for all), until fn says stop or none is left.
func (s *JetStreamStore) scan(ctx context.Context, st jetstream.Stream, filter string, from uint64, fn func(*jetstream.RawStreamMsg) (bool, error)) error {
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: max(from, 1)}
	if filter != "" {
		cfg.FilterSubjects = []string{filter}
	}
	cons, err := again(ctx, func(ctx context.Context) (jetstream.Consumer, error) { return st.OrderedConsumer(ctx, cfg) })
	if err != nil {
		return err
	}
	left := cons.CachedInfo().NumPending
	for left > 0 {
		batch, err := cons.Fetch(int(min(left, 256)), jetstream.FetchMaxWait(s.opts.RequestTimeout))
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			left = meta.NumPending
			more, err := fn(&jetstream.RawStreamMsg{Subject: m.Subject(), Sequence: meta.Sequence.Stream, Header: m.Headers(), Data: m.Data(), Time: meta.Timestamp})
			if err != nil || !more {
				return err
			}
		}
		if err := batch.Error(); err != nil {
			return err
		}
		if got == 0 {
			return errors.New("the stream stopped answering")
		}
	}
	return nil
}
