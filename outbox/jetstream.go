package outbox

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStreamStore is the store on NATS JetStream that replicas share
// (storage.backend: nats). Streams and buckets are replicated (R3 by
// default, Raft), so a node can die with its disk and nothing accepted is
// lost. The mapping, and why:
//
//   - Pending deliveries are messages of the stream <prefix>-pending, on
//     <prefix>.pending.<target hash>; the stream sequence is the
//     delivery's id. A retry's updated record goes into the bucket
//     <prefix>-retry under the id, and Read prefers it; a delivery done,
//     dead or superseded has its message deleted (and its retry record).
//   - The per-alert order lives in the bucket <prefix>-latest: one key per
//     slot holding slotState, the same value and the same rank/after rule
//     as the bbolt store. The slot is the truth of what is pending: a
//     delivery is pending while its slot names it. A candidate's decision
//     is one compare-and-set on the slot's revision, so two replicas
//     accepting states of one alert are ordered by the slot's revisions,
//     and that revision is the candidate's Seq (its commit order, the
//     same on every replica).
//   - The message is published before the slot names it, with
//     Nats-Msg-Id derived from the delivery key and the slot revision the
//     decision read: two replicas accepting the same delivery from the
//     same slot state store one message, and a resend after a failure
//     between the two writes finds the message it published. A message
//     no slot names is not pending (Read, Load and Watch ignore it); Load
//     deletes those older than twice the duplicate window.
//   - The dedup log is the bucket <prefix>-done (TTL = the dedup window);
//     the history is <prefix>-history (TTL = the retention). A slot with
//     nothing pending is written with a message TTL of the retention when
//     the server has per-message TTLs (2.11+); a slot with a pending
//     delivery never expires.
//   - Dead letters are the stream <prefix>-dead (MaxAge = the dead-letter
//     retention, MaxMsgs = their bound, the oldest discarded): the server
//     applies the bounds, so PruneDeadLetters has nothing to do. A dead
//     letter's id is its sequence there.
//   - Publisher state is the bucket <prefix>-state with a TTL per key when
//     the server has them, else the bucket's TTL (StateTTL); the expiry is
//     in the value too, so Get never returns an expired entry.
//   - A Lease is a key of the bucket <prefix>-lease, whose TTL is the
//     lease's: created by one replica only, renewed by updates on its
//     revision.
//   - Watch follows the slots' bucket, not the pending stream: a slot's
//     change is an acceptance once decided, so a delivery whose decision
//     lost a race is never handed to the lanes.
//
// Accept cannot be one transaction over many keys: each candidate's
// decision is atomic, not the call. When Accept fails midway (no quorum),
// the webhook answers 503; candidates decided before the failure are
// pending and their resends are answered as already pending, a message
// published but not yet named by its slot is found again by the resend's
// publish (same message id) and named then: nothing is lost, nothing is
// sent twice. The same holds for Record: a done delivery is written to the
// dedup log before its slot lets it go, a dead letter is published before
// its delivery stops being pending, so a failure repeats a step, never
// loses one; a repeated dead letter is deduplicated by its message id.
type JetStreamStore struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts JetStreamOptions
	// writer names this store's slot changes apart from other
	// replicas' (slotMsg's message ids).
	writer string

	names   jsNames
	pending jetstream.Stream
	dead    jetstream.Stream
	latest  jetstream.KeyValue
	done    jetstream.KeyValue
	retry   jetstream.KeyValue
	history jetstream.KeyValue
	state   jetstream.KeyValue
	lease   jetstream.KeyValue
	lanes   jetstream.KeyValue
	// keyTTL says whether the server keeps a TTL per message (2.11+).
	keyTTL bool
	// watchFrom is the revision of the slots' bucket after the last one
	// Load saw, where Watch starts.
	watchFrom atomic.Uint64
}

// JetStreamOptions configure OpenJetStream; zero values take the
// defaults.
type JetStreamOptions struct {
	// Servers are the NATS URLs, e.g. nats://nats-0:4222.
	Servers []string
	// CredentialsFile (a .creds file), NKeyFile (an nkey seed) and
	// TokenFile authenticate the connection; at most one of them.
	CredentialsFile string
	NKeyFile        string
	TokenFile       string
	TLS             *tls.Config
	// StreamPrefix names the streams and buckets (default "am-fanout").
	StreamPrefix string
	// Replicas of every stream and bucket (default 3).
	Replicas int
	// DuplicateWindow is how long the pending stream remembers message
	// ids (default 2m); never longer than the dedup window.
	DuplicateWindow time.Duration
	// ConnectTimeout bounds connecting and creating the streams (default
	// 10s); RequestTimeout bounds one call of the store (default 10s).
	ConnectTimeout time.Duration
	RequestTimeout time.Duration
	// LeaseTTL is how long a lease outlives its last renewal (default
	// 15s).
	LeaseTTL time.Duration
	// StateTTL is the publisher state bucket's TTL when the server has no
	// TTL per key (default 30 days).
	StateTTL time.Duration
	// Store holds the bounds shared with the bbolt store: DedupWindow,
	// Retention, DeadLetterRetention, MaxDeadLetters.
	Store StoreOptions
}

func (o *JetStreamOptions) normalise(logger *slog.Logger) {
	o.Store.Logger = logger
	o.Store.normalise()
	if o.StreamPrefix == "" {
		o.StreamPrefix = "am-fanout"
	}
	if o.Replicas <= 0 {
		o.Replicas = 3
	}
	if o.DuplicateWindow <= 0 {
		o.DuplicateWindow = 2 * time.Minute
	}
	// A message id remembered past the dedup log would answer a new
	// acceptance with a message that is gone.
	o.DuplicateWindow = min(o.DuplicateWindow, o.Store.DedupWindow)
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 10 * time.Second
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.StateTTL <= 0 {
		o.StateTTL = 30 * 24 * time.Hour
	}
}

// jsNames are the streams, buckets and subjects of one prefix.
type jsNames struct {
	pending, dead                                     string // streams
	latest, done, retry, history, state, lease, lanes string // buckets
	pendingSubject, deadSubject                       string // subject prefixes, with the trailing dot
}

func namesOf(prefix string) jsNames {
	return jsNames{
		pending: prefix + "-pending", dead: prefix + "-dead",
		latest: prefix + "-latest", done: prefix + "-done", retry: prefix + "-retry",
		history: prefix + "-history", state: prefix + "-state", lease: prefix + "-lease", lanes: prefix + "-lanes",
		pendingSubject: prefix + ".pending.", deadSubject: prefix + ".dead.",
	}
}

// OpenJetStream connects to the servers and creates or updates the
// streams and buckets with the configured replicas. Without a quorum it
// fails with an error naming the servers (never the credentials).
func OpenJetStream(ctx context.Context, opts JetStreamOptions, logger *slog.Logger) (*JetStreamStore, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts.normalise(logger)
	if len(opts.Servers) == 0 {
		return nil, errors.New("nats store: no servers")
	}
	where := redactedServers(opts.Servers)
	conn, err := connectOptions(&opts)
	if err != nil {
		return nil, fmt.Errorf("nats store %s: %w", where, err)
	}
	nc, err := nats.Connect(strings.Join(opts.Servers, ","), conn...)
	if err != nil {
		return nil, fmt.Errorf("nats store %s: connecting: %w", where, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats store %s: %w", where, err)
	}
	s := &JetStreamStore{nc: nc, js: js, opts: opts, names: namesOf(opts.StreamPrefix), writer: nats.NewInbox()}
	ctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := s.create(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats store %s: creating streams and buckets with %d replicas (is there a JetStream quorum?): %w", where, opts.Replicas, err)
	}
	return s, nil
}

func connectOptions(o *JetStreamOptions) ([]nats.Option, error) {
	conn := []nats.Option{nats.Name("am-fanout"), nats.Timeout(o.ConnectTimeout), nats.MaxReconnects(-1)}
	set := 0
	if o.CredentialsFile != "" {
		conn, set = append(conn, nats.UserCredentials(o.CredentialsFile)), set+1
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("reading the nkey seed file: %w", err)
		}
		conn, set = append(conn, opt), set+1
	}
	if o.TokenFile != "" {
		tok, err := os.ReadFile(o.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading the token file: %w", err)
		}
		conn, set = append(conn, nats.Token(strings.TrimSpace(string(tok)))), set+1
	}
	if set > 1 {
		return nil, errors.New("credentials file, nkey file and token file are mutually exclusive")
	}
	if o.TLS != nil {
		conn = append(conn, nats.Secure(o.TLS))
	}
	return conn, nil
}

// redactedServers names the servers without any user or password a URL
// holds.
func redactedServers(servers []string) string {
	out := make([]string, len(servers))
	for i, s := range servers {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			// Not a URL: a bare host:port holds no credentials, anything
			// else is not repeated.
			if strings.Contains(s, "@") {
				s = "<server " + fmt.Sprint(i+1) + ">"
			}
			out[i] = s
			continue
		}
		u.User = nil
		out[i] = u.String()
	}
	return strings.Join(out, ",")
}

// create makes the streams and buckets, or brings their configuration to
// the options.
func (s *JetStreamStore) create(ctx context.Context) error {
	n, o := s.names, s.opts
	var err error
	s.pending, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: n.pending, Subjects: []string{n.pendingSubject + ">"}, Storage: jetstream.FileStorage,
		Replicas: o.Replicas, Duplicates: o.DuplicateWindow, Discard: jetstream.DiscardNew,
		Description: "am-fanout: pending deliveries",
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", n.pending, err)
	}
	s.dead, err = s.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: n.dead, Subjects: []string{n.deadSubject + ">"}, Storage: jetstream.FileStorage,
		Replicas: o.Replicas, MaxAge: o.Store.DeadLetterRetention, MaxMsgs: int64(o.Store.MaxDeadLetters),
		Discard: jetstream.DiscardOld, Duplicates: o.DuplicateWindow, Description: "am-fanout: dead letters",
	})
	if err != nil {
		return fmt.Errorf("stream %s: %w", n.dead, err)
	}
	markers := time.Minute
	s.latest, err = s.bucket(ctx, n.latest, 0, markers)
	if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
		s.opts.Store.Logger.Warn("the NATS server keeps no TTL per message (before 2.11): ordering state is never pruned", "bucket", n.latest)
		markers = 0
		s.latest, err = s.bucket(ctx, n.latest, 0, 0)
	}
	if err != nil {
		return err
	}
	s.keyTTL = markers > 0
	for _, b := range []struct {
		kv      *jetstream.KeyValue
		name    string
		ttl     time.Duration
		markers time.Duration
	}{
		{&s.done, n.done, o.Store.DedupWindow, 0},
		{&s.retry, n.retry, 0, markers},
		{&s.history, n.history, o.Store.Retention, 0},
		{&s.state, n.state, map[bool]time.Duration{true: 0, false: o.StateTTL}[s.keyTTL], markers},
		{&s.lease, n.lease, o.LeaseTTL, 0},
		{&s.lanes, n.lanes, o.Store.Retention, 0},
	} {
		if *b.kv, err = s.bucket(ctx, b.name, b.ttl, b.markers); err != nil {
			return err
		}
	}
	return nil
}

func (s *JetStreamStore) bucket(ctx context.Context, name string, ttl, markers time.Duration) (jetstream.KeyValue, error) {
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: name, TTL: ttl, LimitMarkerTTL: markers, Replicas: s.opts.Replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	return kv, nil
}

// Close closes the connection; the data stays on the servers.
func (s *JetStreamStore) Close() error {
	s.nc.Close()
	return nil
}

// Size is the bytes the streams and buckets take, on one replica.
func (s *JetStreamStore) Size() int64 {
	ctx, cancel := s.ctx()
	defer cancel()
	var n int64
	for _, name := range s.streams() {
		st, err := s.js.Stream(ctx, name)
		if err != nil {
			continue
		}
		if info, err := st.Info(ctx); err == nil {
			n += int64(info.State.Bytes)
		}
	}
	return n
}

func (s *JetStreamStore) streams() []string {
	n := s.names
	kv := func(b string) string { return "KV_" + b }
	return []string{n.pending, n.dead, kv(n.latest), kv(n.done), kv(n.retry), kv(n.history), kv(n.state), kv(n.lease), kv(n.lanes)}
}

func (s *JetStreamStore) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opts.RequestTimeout)
}

// unanswered is how long a request of the JetStream API that reads a
// stream waits for its answer before it is sent again: one that reaches
// the stream while it elects a leader, after a node of the cluster went
// away, is never answered, while the same request sent once the leader is
// elected is answered at once (in under a millisecond on loopback, in
// the test that loses a node).
const unanswered = 2 * time.Second

// again calls call with a context of at most unanswered, and again while
// it got no answer in time, until it returns or ctx ends.
func again[T any](ctx context.Context, call func(context.Context) (T, error)) (T, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, unanswered)
		v, err := call(actx)
		cancel()
		if err == nil || ctx.Err() != nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)) {
			return v, err
		}
	}
}

// stream reads the information of stream, again while it is not
// answered.
func (s *JetStreamStore) stream(ctx context.Context, name string) (jetstream.Stream, error) {
	return again(ctx, func(ctx context.Context) (jetstream.Stream, error) { return s.js.Stream(ctx, name) })
}

// getMsg reads message seq of stream, again while it is not answered.
func getMsg(ctx context.Context, stream jetstream.Stream, seq uint64) (*jetstream.RawStreamMsg, error) {
	return again(ctx, func(ctx context.Context) (*jetstream.RawStreamMsg, error) { return stream.GetMsg(ctx, seq) })
}

// kvGet reads key of bucket kv, again while it is not answered.
func kvGet(ctx context.Context, kv jetstream.KeyValue, key string) (jetstream.KeyValueEntry, error) {
	return again(ctx, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return kv.Get(ctx, key) })
}

// hashHex is the first n bytes of s's SHA-256, in hex: a subject token or
// key from any string.
func hashHex(s string, n int) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:n])
}

// encodeKey makes any string a valid bucket key token.
func encodeKey(s string) string { return "k" + base64.RawURLEncoding.EncodeToString([]byte(s)) }

// isConflict reports whether err is a compare-and-set that lost: the
// subject's last sequence was not the one expected.
func isConflict(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) &&
		(apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant)
}

// leaderLast reads the last message of subject in stream from the
// stream's leader: the buckets allow direct gets, which a follower may
// answer with an older value, and a decision must see the newest. nil,
// with no error, when the subject has none.
func (s *JetStreamStore) leaderLast(ctx context.Context, stream, subject string) (*jetstream.RawStreamMsg, error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": subject})
	resp, err := again(ctx, func(ctx context.Context) (*nats.Msg, error) {
		return s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	})
	if err != nil {
		return nil, err
	}
	var r struct {
		Error *jetstream.APIError `json:"error"`
		Msg   *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Header  []byte    `json:"hdrs"`
			Data    []byte    `json:"data"`
			Time    time.Time `json:"time"`
		} `json:"message"`
	}
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return nil, fmt.Errorf("reading %s from %s: %w", subject, stream, err)
	}
	if r.Error != nil {
		if r.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound {
			return nil, nil
		}
		return nil, r.Error
	}
	if r.Msg == nil {
		return nil, fmt.Errorf("reading %s from %s: an empty answer", subject, stream)
	}
	m := &jetstream.RawStreamMsg{Subject: r.Msg.Subject, Sequence: r.Msg.Seq, Data: r.Msg.Data, Time: r.Msg.Time}
	if len(r.Msg.Header) > 0 {
		if m.Header, err = nats.DecodeHeadersMsg(r.Msg.Header); err != nil {
			return nil, fmt.Errorf("reading %s from %s: %w", subject, stream, err)
		}
	}
	return m, nil
}

// isTombstone reports whether a bucket's message says its key is gone: a
// delete, a purge, or the marker of an expiry.
func isTombstone(m *jetstream.RawStreamMsg) bool {
	if m.Header == nil {
		return false
	}
	op := m.Header.Get("KV-Operation")
	return op == "DEL" || op == "PURGE" || m.Header.Get(jetstream.MarkerReasonHeader) != ""
}

// kvSubject is the subject of key in bucket.
func kvSubject(bucket, key string) string { return "$KV." + bucket + "." + key }

// put writes value under key in bucket, when the key's last revision is
// rev (with cas) and with a message TTL (when ttl > 0 and the server has
// them), and returns the new revision.
func (s *JetStreamStore) put(ctx context.Context, bucket, key string, value []byte, cas bool, rev uint64, ttl time.Duration) (uint64, error) {
	var opts []jetstream.PublishOpt
	if cas {
		opts = append(opts, jetstream.WithExpectLastSequencePerSubject(rev))
	}
	if ttl > 0 && s.keyTTL {
		// The server counts message TTLs in whole seconds.
		opts = append(opts, jetstream.WithMsgTTL(max(time.Second, ttl.Round(time.Second))))
	}
	opts = append(opts, jetstream.WithMsgID(nats.NewInbox()))
	ack, err := s.publish(ctx, &nats.Msg{Subject: kvSubject(bucket, key), Data: value}, opts...)
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// publish publishes m and waits for its acknowledgement, publishing it
// again while none comes within unanswered (a stream leader that died
// with it never answers), until ctx ends. opts carry its message id
// (jetstream.WithMsgID), the same for each try, which makes the message
// stored once: a try that finds a copy with the same id still being
// committed (the one sent before it, or another replica's) waits for it
// and is sent again, to be acknowledged as that copy was.
func (s *JetStreamStore) publish(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	for {
		ack, err := again(ctx, func(ctx context.Context) (*jetstream.PubAck, error) { return s.js.PublishMsg(ctx, m, opts...) })
		if !isInProcess(err) || !pause(ctx, inProcessPause) {
			return ack, err
		}
	}
}
