package outbox

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"
)

// maxDecideRounds bounds how often one candidate's decision is taken
// again after losing a compare-and-set to another replica.
const maxDecideRounds = 16

// acceptParallel bounds the slots decided at once by one call.
const acceptParallel = 16

// slotRef is what a decision read of a slot: its state, whether it had
// one, and the revision a compare-and-set expects.
type slotRef struct {
	st    slotState
	known bool
	rev   uint64
}

func (s *JetStreamStore) slotKey(slot string) string { return hashHex(slot, 16) }

// readSlot reads a slot from the leader.
func (s *JetStreamStore) readSlot(ctx context.Context, key string) (slotRef, error) {
	m, err := s.leaderLast(ctx, "KV_"+s.names.latest, kvSubject(s.names.latest, key))
	if err != nil || m == nil {
		return slotRef{}, err
	}
	if isTombstone(m) {
		return slotRef{rev: m.Sequence}, nil
	}
	st, ok := decodeSlot(m.Data)
	if !ok {
		return slotRef{}, fmt.Errorf("ordering record %s: %d bytes, not a slot state", key, len(m.Data))
	}
	return slotRef{st: st, known: true, rev: m.Sequence}, nil
}

// writeSlot sets a slot if its revision is still ref's, and returns the
// new revision. A slot with nothing pending expires after the retention.
func (s *JetStreamStore) writeSlot(ctx context.Context, key string, ref slotRef, st slotState) (uint64, error) {
	ttl := time.Duration(0)
	if st.Pending == 0 {
		ttl = s.opts.Store.Retention
	}
	return s.put(ctx, s.names.latest, key, st.encode(), true, ref.rev, ttl)
}

// Load calls fn with every pending delivery (one its slot names), in
// acceptance order, numbered by its slot's revision. Messages no slot
// names, older than twice the duplicate window, are deleted: they are
// the leftovers of decisions that failed midway or lost a race.
func (s *JetStreamStore) Load(fn func(*Candidate)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*s.opts.RequestTimeout)
	defer cancel()
	info, err := s.js.Stream(ctx, "KV_"+s.names.latest)
	if err != nil {
		return fmt.Errorf("nats store: %w", err)
	}
	// Watch starts after the slots Load saw: a slot changed later is
	// seen by Watch.
	s.watchFrom.Store(info.CachedInfo().State.LastSeq + 1)
	var out []*Candidate
	var orphans []uint64
	err = s.scan(ctx, s.pending, "", 1, func(m *jetstream.RawStreamMsg) (bool, error) {
		d, ref, err := s.linked(ctx, m)
		if err != nil {
			return false, err
		}
		if d == nil {
			if time.Since(m.Time) > 2*s.opts.DuplicateWindow {
				orphans = append(orphans, m.Sequence)
			}
			return true, nil
		}
		data, err := s.merged(ctx, d, m.Data)
		if err != nil {
			return false, err
		}
		out = append(out, &Candidate{Delivery: d, size: len(data), State: StateAccepted, Seq: ref.rev})
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("nats store: loading pending deliveries: %w", err)
	}
	for _, seq := range orphans {
		_ = s.pending.DeleteMsg(ctx, seq)
	}
	slices.SortFunc(out, func(a, b *Candidate) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, c := range out {
		fn(c)
	}
	if len(out) > 0 {
		s.opts.Store.Logger.Info("outbox resumes pending deliveries", "pending", len(out), "stream", s.names.pending)
	}
	return nil
}

// linked decodes a pending message and returns it with its slot when
// the slot names it; nil when it does not (it is not pending).
func (s *JetStreamStore) linked(ctx context.Context, m *jetstream.RawStreamMsg) (*Delivery, slotRef, error) {
	d := &Delivery{}
	if err := json.Unmarshal(m.Data, d); err != nil {
		return nil, slotRef{}, fmt.Errorf("pending delivery %d: %w", m.Sequence, err)
	}
	d.ID = m.Sequence
	ref, err := s.readSlot(ctx, s.slotKey(d.Slot()))
	if err != nil || !ref.known || ref.st.Pending != d.ID {
		return nil, ref, err
	}
	return d, ref, nil
}

// merged replaces d by its retry record when it has one, and returns the
// record's encoding.
func (s *JetStreamStore) merged(ctx context.Context, d *Delivery, data []byte) ([]byte, error) {
	e, err := s.retry.Get(ctx, strconv.FormatUint(d.ID, 10))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return data, nil
	}
	if err != nil {
		return nil, err
	}
	id := d.ID
	*d = Delivery{}
	if err := json.Unmarshal(e.Value(), d); err != nil {
		return nil, fmt.Errorf("retry record of delivery %d: %w", id, err)
	}
	d.ID = id
	return e.Value(), nil
}

// Read returns the pending delivery id, its retry record if it has one;
// nil, with no error, when its slot no longer names it.
func (s *JetStreamStore) Read(id uint64) (*Delivery, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	m, err := s.pending.GetMsg(ctx, id)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("nats store: reading delivery %d: %w", id, err)
	}
	d, _, err := s.linked(ctx, m)
	if d == nil || err != nil {
		return nil, err
	}
	if _, err := s.merged(ctx, d, m.Data); err != nil {
		return nil, err
	}
	return d, nil
}

// Accept decides each candidate with a compare-and-set on its slot, the
// slots in parallel, the candidates of one slot in their order. An error
// leaves the candidates decided before it decided (see JetStreamStore).
func (s *JetStreamStore) Accept(cands []*Candidate, now time.Time) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.acceptAll(ctx, cands, now)
}

// acceptAll decides cands in three rounds, each in parallel or
// pipelined on the connection in the candidates' order, so that their ids
// and commit orders follow it: read the dedup log and the slots, publish
// the messages, set the slots. A slot that changed in between, or a slot
// two candidates share, is decided again alone.
func (s *JetStreamStore) acceptAll(ctx context.Context, cands []*Candidate, now time.Time) error {
	type plan struct {
		c   *Candidate
		ref slotRef
		msg uint64
	}
	seen := map[string]bool{}
	var first, again []*Candidate
	for _, c := range cands {
		if k := c.Delivery.Slot(); seen[k] {
			again = append(again, c)
		} else {
			seen[k] = true
			first = append(first, c)
		}
	}
	plans := make([]*plan, len(first))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(acceptParallel)
	for i, c := range first {
		g.Go(func() error {
			ref, publish, err := s.prejudge(gctx, c, now)
			if publish {
				plans[i] = &plan{c: c, ref: ref}
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fmt.Errorf("nats store: accepting deliveries: %w", err)
	}
	plans = slices.DeleteFunc(plans, func(p *plan) bool { return p == nil })
	acks, err := s.pipelineEach(ctx, len(plans), func(i int) (*nats.Msg, []jetstream.PublishOpt) {
		p := plans[i]
		return s.pendingMsg(p.c), []jetstream.PublishOpt{jetstream.WithMsgID(s.msgID(p.c, p.ref, ""))}
	})
	if err != nil {
		return fmt.Errorf("nats store: accepting deliveries: %w", err)
	}
	published := plans[:0]
	for i, p := range plans {
		switch {
		case acks[i].err == nil:
			p.msg = acks[i].seq
			published = append(published, p)
		case isInProcess(acks[i].err):
			// Another replica publishes the same delivery right now.
			again = append(again, p.c)
		default:
			return fmt.Errorf("nats store: accepting deliveries: %w", acks[i].err)
		}
	}
	plans = published
	revs, err := s.pipelineEach(ctx, len(plans), func(i int) (*nats.Msg, []jetstream.PublishOpt) {
		p := plans[i]
		next := p.ref.st.after(p.ref.known, p.c.Delivery.order(), p.msg, now)
		return s.slotMsg(p.c, p.ref, next)
	})
	for i, p := range plans {
		c, d := p.c, p.c.Delivery
		switch {
		case revs[i].err == nil:
			d.ID, c.Seq = p.msg, revs[i].seq
			if p.ref.known && p.ref.st.Pending != 0 && p.ref.st.Pending != p.msg {
				c.Old = p.ref.st.Pending
				s.forget(ctx, c.Old)
			}
		case isConflict(revs[i].err):
			again = append(again, c)
		default:
			err = errors.Join(err, revs[i].err)
		}
	}
	if err != nil {
		return fmt.Errorf("nats store: accepting deliveries: %w", err)
	}
	for _, c := range again {
		var published uint64
		for _, p := range plans {
			if p.c == c {
				published = p.msg
			}
		}
		if err := s.decide(ctx, c, now, "", published); err != nil {
			return fmt.Errorf("nats store: accepting deliveries: %w", err)
		}
	}
	return nil
}

// prejudge reads what decides c: the dedup log and its slot. It settles
// c when that is enough (already delivered, stale, already pending) and
// otherwise says c is to be published.
func (s *JetStreamStore) prejudge(ctx context.Context, c *Candidate, now time.Time) (slotRef, bool, error) {
	c.State, c.Old, c.Seq, c.Delivery.ID = StateAccepted, 0, 0, 0
	d := c.Delivery
	if c.data == nil {
		c.data, _ = json.Marshal(d)
		c.size = len(c.data)
	}
	delivered, err := s.deliveredAt(ctx, d.key(), now)
	if err != nil || delivered {
		if delivered {
			c.State = StateAlreadyDelivered
		}
		return slotRef{}, false, err
	}
	ref, err := s.readSlot(ctx, s.slotKey(d.Slot()))
	if err != nil {
		return ref, false, err
	}
	return ref, !s.settled(ctx, c, ref), nil
}

// settled decides c from its slot when the slot says it is stale or
// already pending.
func (s *JetStreamStore) settled(ctx context.Context, c *Candidate, ref slotRef) bool {
	d, st := c.Delivery, ref.st
	if !ref.known {
		return false
	}
	switch cmp := st.rank(d.order()); {
	case cmp < 0:
		c.State = StateStale
		return true
	case cmp == 0 && st.Pending != 0, d.Group != nil && st.Pending != 0 && s.samePending(ctx, st.Pending, d):
		c.State, d.ID = StateAlreadyPending, st.Pending
		return true
	}
	return false
}

// msgID is the message id of c published after its slot was read as
// ref: from its delivery key, so that the same delivery accepted from the
// same slot state is stored once, and from the slot's revision, so that
// an id never names a message a later decision deleted.
func (s *JetStreamStore) msgID(c *Candidate, ref slotRef, replay string) string {
	return hashHex(c.Delivery.key()+"\x00"+replay+"\x00"+strconv.FormatUint(ref.rev, 10), 16)
}

// pendingMsg is c's message in the pending stream.
func (s *JetStreamStore) pendingMsg(c *Candidate) *nats.Msg {
	return &nats.Msg{Subject: s.names.pendingSubject + hashHex(c.Delivery.Target, 8), Data: c.data}
}

// slotMsg is the compare-and-set of c's slot from ref to next.
func (s *JetStreamStore) slotMsg(c *Candidate, ref slotRef, next slotState) (*nats.Msg, []jetstream.PublishOpt) {
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(ref.rev)}
	if next.Pending == 0 && s.keyTTL {
		opts = append(opts, jetstream.WithMsgTTL(s.opts.Store.Retention.Round(time.Second)))
	}
	return &nats.Msg{Subject: kvSubject(s.names.latest, s.slotKey(c.Delivery.Slot())), Data: next.encode()}, opts
}

type pubResult struct {
	seq uint64
	err error
}

// pipelineEach publishes n messages asynchronously, in order on the
// connection, and waits for every acknowledgement.
func (s *JetStreamStore) pipelineEach(ctx context.Context, n int, msg func(i int) (*nats.Msg, []jetstream.PublishOpt)) ([]pubResult, error) {
	out := make([]pubResult, n)
	futures := make([]jetstream.PubAckFuture, n)
	for i := range n {
		m, opts := msg(i)
		f, err := s.js.PublishMsgAsync(m, opts...)
		if err != nil {
			out[i].err = err
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case ack := <-f.Ok():
			out[i].seq = ack.Sequence
		case err := <-f.Err():
			out[i].err = err
		case <-ctx.Done():
			return out, ctx.Err()
		}
	}
	return out, nil
}

// decide settles one candidate alone: already delivered, stale or
// already pending by what its slot holds, else accepted: its message
// published (replay names a dead letter's replay, for its message id),
// then named by its slot in one compare-and-set, then the older state it
// supersedes deleted. published is a message an earlier try published
// for it, deleted unless a slot names it in the end.
func (s *JetStreamStore) decide(ctx context.Context, c *Candidate, now time.Time, replay string, published uint64) error {
	drop := func(keep uint64) {
		if published != 0 && published != keep {
			_ = s.pending.DeleteMsg(ctx, published)
		}
	}
	for range maxDecideRounds {
		ref, publish, err := s.prejudge(ctx, c, now)
		if err != nil {
			return err
		}
		d := c.Delivery
		if !publish {
			drop(d.ID)
			return nil
		}
		ack, err := s.publishPending(ctx, c, ref, replay)
		if err != nil {
			return err
		}
		if published != ack.Sequence {
			drop(0)
		}
		published = ack.Sequence
		sm, opts := s.slotMsg(c, ref, ref.st.after(ref.known, d.order(), published, now))
		sack, err := s.js.PublishMsg(ctx, sm, opts...)
		if isConflict(err) {
			continue
		}
		if err != nil {
			return err
		}
		d.ID, c.Seq = published, sack.Sequence
		if ref.known && ref.st.Pending != 0 && ref.st.Pending != published {
			c.Old = ref.st.Pending
			s.forget(ctx, c.Old)
		}
		return nil
	}
	drop(0)
	return fmt.Errorf("slot of delivery to %q for %s: changed by others %d times in a row", c.Delivery.Target, c.Delivery.Fingerprint(), maxDecideRounds)
}

// forget deletes a delivery no slot names any more: its message and its
// retry record. A failure leaves a message that is not pending, which
// Load deletes later.
func (s *JetStreamStore) forget(ctx context.Context, id uint64) {
	if err := s.pending.DeleteMsg(ctx, id); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		s.opts.Store.Logger.Debug("deleting a delivery no longer pending failed", "id", id, "err", err)
	}
	_ = s.retry.Purge(ctx, strconv.FormatUint(id, 10), s.markerTTL()...)
}

func (s *JetStreamStore) markerTTL() []jetstream.KVDeleteOpt {
	if !s.keyTTL {
		return nil
	}
	return []jetstream.KVDeleteOpt{jetstream.PurgeTTL(time.Minute)}
}

// samePending reports whether the pending group delivery id carries the
// same notification as d.
func (s *JetStreamStore) samePending(ctx context.Context, id uint64, d *Delivery) bool {
	m, err := s.pending.GetMsg(ctx, id)
	if err != nil {
		return false
	}
	var p Delivery
	return json.Unmarshal(m.Data, &p) == nil && p.key() == d.key()
}

// deliveredAt reports whether key is in the dedup log within the window.
func (s *JetStreamStore) deliveredAt(ctx context.Context, key string, now time.Time) (bool, error) {
	m, err := s.leaderLast(ctx, "KV_"+s.names.done, kvSubject(s.names.done, hashHex(key, 16)))
	if err != nil || m == nil || isTombstone(m) {
		return false, err
	}
	at := decodeTime(m.Data)
	return !at.IsZero() && now.Sub(at) < s.opts.Store.DedupWindow, nil
}

// Record writes the settlements, one after the other: a done delivery
// into the dedup log, then released by its slot and deleted; a dead one
// published as a dead letter, its hand-over accepted, then released; a
// retry's record into the retry bucket. Each attempt's line goes into its
// history. A delivery its slot no longer names is neither written back
// nor buried.
func (s *JetStreamStore) Record(now time.Time, ss ...*Settlement) error {
	ctx, cancel := s.ctx()
	defer cancel()
	for _, st := range ss {
		if err := s.settle(ctx, st, now); err != nil {
			return fmt.Errorf("nats store: recording delivery %d: %w", st.Delivery.ID, err)
		}
		if st.Attempt != nil {
			if err := s.appendHistory(ctx, newHistoryEntry(st.Delivery, st.Attempt, st.Fate, now), now); err != nil {
				return fmt.Errorf("nats store: history of delivery %d: %w", st.Delivery.ID, err)
			}
		}
	}
	return nil
}

func (s *JetStreamStore) settle(ctx context.Context, st *Settlement, now time.Time) error {
	d := st.Delivery
	for _, c := range st.Handover {
		c.State = ""
	}
	slot := s.slotKey(d.Slot())
	ref, err := s.readSlot(ctx, slot)
	if err != nil {
		return err
	}
	pending := ref.known && ref.st.Pending == d.ID
	switch st.Fate {
	case FateRetry:
		if !pending {
			return nil
		}
		data, _ := json.Marshal(d)
		_, err := s.retry.Put(ctx, strconv.FormatUint(d.ID, 10), data)
		return err
	case FateDone:
		if _, err := s.done.Put(ctx, hashHex(d.key(), 16), encodeTime(now)); err != nil {
			return err
		}
	case FateDead:
		if !pending {
			return nil
		}
		data, _ := json.Marshal(d)
		_, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: s.names.deadSubject + hashHex(d.Target, 8), Data: data},
			jetstream.WithMsgID("dead."+strconv.FormatUint(d.ID, 10)))
		if err != nil {
			return err
		}
		if err := s.acceptAll(ctx, st.Handover, now); err != nil {
			return err
		}
	}
	return s.release(ctx, slot, ref, d.ID, now)
}

// release clears the slot's pending delivery if it is still id, and
// deletes the delivery.
func (s *JetStreamStore) release(ctx context.Context, slot string, ref slotRef, id uint64, now time.Time) error {
	for range maxDecideRounds {
		if !ref.known || ref.st.Pending != id {
			break
		}
		next := ref.st
		next.Pending, next.At = 0, now
		_, err := s.writeSlot(ctx, slot, ref, next)
		if err == nil {
			break
		}
		if !isConflict(err) {
			return err
		}
		if ref, err = s.readSlot(ctx, slot); err != nil {
			return err
		}
	}
	s.forget(ctx, id)
	return nil
}

// Watch calls fn with every delivery accepted after those Load gave (or,
// without Load, after Watch started), by any replica, in the order of the
// slots' revisions, until ctx ends. It follows the slots' bucket: each
// change naming a pending delivery is an acceptance. A delivery no longer
// pending when its change is read is skipped.
func (s *JetStreamStore) Watch(ctx context.Context, fn func(*Candidate)) error {
	from := s.watchFrom.Load()
	if from == 0 {
		st, err := s.js.Stream(ctx, "KV_"+s.names.latest)
		if err != nil {
			return fmt.Errorf("nats store: watching: %w", err)
		}
		from = st.CachedInfo().State.LastSeq + 1
	}
	cons, err := s.js.OrderedConsumer(ctx, "KV_"+s.names.latest, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
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
	cons, err := st.OrderedConsumer(ctx, cfg)
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

// publishPending publishes c's message, waiting while another replica's
// publish of the same message id is being committed.
func (s *JetStreamStore) publishPending(ctx context.Context, c *Candidate, ref slotRef, replay string) (*jetstream.PubAck, error) {
	for {
		ack, err := s.js.PublishMsg(ctx, s.pendingMsg(c), jetstream.WithMsgID(s.msgID(c, ref, replay)))
		if !isInProcess(err) {
			return ack, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// jsErrDuplicateInProcess is the error of a publish whose message id is
// in a publish not yet committed (replicated streams).
const jsErrDuplicateInProcess = 10158

func isInProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrDuplicateInProcess
}
