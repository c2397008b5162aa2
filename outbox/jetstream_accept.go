package outbox

import (
	"context"
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
	c.inline()
	// The slot first, the dedup log second: a delivery done in between
	// wrote the log before it released the slot, and a release after the
	// slot's read changes the revision the slot's write must match, so a
	// resend racing the delivery of the same state is never taken for a
	// new one.
	ref, err := s.readSlot(ctx, s.slotKey(d.Slot()))
	if err != nil {
		return ref, false, err
	}
	delivered, err := s.deliveredAt(ctx, d.key(), now)
	if err != nil || delivered {
		if delivered {
			c.State = StateAlreadyDelivered
		}
		return slotRef{}, false, err
	}
	return ref, !s.settled(ctx, c, ref), nil
}

// settled decides c from its slot when the slot says it is stale or
// already pending.
func (s *JetStreamStore) settled(ctx context.Context, c *Candidate, ref slotRef) bool {
	d, st := c.Delivery, ref.st
	switch v := st.verdict(ref.known, d.order()); {
	case v == StateStale:
		c.State = StateStale
		return true
	case v == StateAlreadyPending, ref.known && d.Group != nil && st.Pending != 0 && s.samePending(ctx, st.Pending, d):
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
	// The message id makes this store's change from the same revision
	// one change when it is published again (pipelineEach); another
	// replica's is its own, and loses the compare-and-set as before.
	id := hashHex(s.writer+"\x00"+c.Delivery.Slot()+"\x00"+strconv.FormatUint(ref.rev, 10)+"\x00"+strconv.FormatUint(next.Pending, 10), 16)
	opts := []jetstream.PublishOpt{jetstream.WithExpectLastSequencePerSubject(ref.rev), jetstream.WithMsgID(id)}
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
// connection, and waits for every acknowledgement. When none came for
// unanswered, the messages not acknowledged are published again, until
// ctx ends: a stream leader that died with them never answers, and its
// successor has not seen them. Every message carries a message id, so
// that one the first leader did store is stored once and acknowledged as
// it was; an answer that a copy with its id is still being stored is
// waited out and the message published again, as publish does.
func (s *JetStreamStore) pipelineEach(ctx context.Context, n int, msg func(i int) (*nats.Msg, []jetstream.PublishOpt)) ([]pubResult, error) {
	out := make([]pubResult, n)
	futures := make([]jetstream.PubAckFuture, n)
	msgs := make([]*nats.Msg, n)
	opts := make([][]jetstream.PublishOpt, n)
	publish := func(i int) {
		f, err := s.js.PublishMsgAsync(msgs[i], opts[i]...)
		futures[i], out[i].err = f, err
	}
	for i := range n {
		msgs[i], opts[i] = msg(i)
		publish(i)
	}
	timer := time.NewTimer(unanswered)
	defer timer.Stop()
	for i := 0; i < n; {
		f := futures[i]
		if f == nil {
			i++
			continue
		}
		select {
		case ack := <-f.Ok():
			out[i].seq = ack.Sequence
			i++
			timer.Reset(unanswered)
		case err := <-f.Err():
			if isInProcess(err) {
				// A copy with its id (the one published before it, or
				// another replica's) is being stored: its
				// acknowledgement is the next try's, as in publish.
				if !pause(ctx, inProcessPause) {
					return out, ctx.Err()
				}
				publish(i)
				continue
			}
			out[i].err = err
			i++
			timer.Reset(unanswered)
		case <-timer.C:
			// Published again, the ones behind it too: they went to
			// the same leader.
			for j := i; j < n; j++ {
				if futures[j] != nil {
					publish(j)
				}
			}
			timer.Reset(unanswered)
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
		ack, err := s.publish(ctx, s.pendingMsg(c), jetstream.WithMsgID(s.msgID(c, ref, replay)))
		if err != nil {
			return err
		}
		if published != ack.Sequence {
			drop(0)
		}
		published = ack.Sequence
		sm, opts := s.slotMsg(c, ref, ref.st.after(ref.known, d.order(), published, now))
		sack, err := s.publish(ctx, sm, opts...)
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

// inProcessPause is how long a publish whose message id is in a publish
// not yet committed waits before it is sent again.
const inProcessPause = 10 * time.Millisecond

// pause waits d, and reports false when ctx ended first.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// jsErrDuplicateInProcess is the error of a publish whose message id is
// in a publish not yet committed (replicated streams).
const jsErrDuplicateInProcess = 10158

func isInProcess(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrDuplicateInProcess
}
