package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/am-fanout/am-fanout/publish"
)

// The storage backends.
const (
	BackendBbolt = "bbolt"
	BackendNATS  = "nats"
)

// Storage chooses where the outbox lives: bbolt, the embedded file (the
// default), or nats, NATS JetStream shared by replicas.
type Storage struct {
	Backend string `yaml:"backend"`
	// NATS configures the nats backend; it must be set with it, and only
	// with it.
	NATS *NATSStorage `yaml:"nats"`
}

// NATSStorage is the storage.nats block.
type NATSStorage struct {
	// Servers are NATS URLs (nats:// or tls://).
	Servers []string `yaml:"servers"`
	// CredentialsFile, NKeyFile and TokenFile authenticate; at most one,
	// each relative to the config file's folder unless absolute.
	CredentialsFile string `yaml:"credentials_file"`
	NKeyFile        string `yaml:"nkey_file"`
	TokenFile       string `yaml:"token_file"`
	// TLSConfig is prometheus/common's TLS block.
	TLSConfig *commoncfg.TLSConfig `yaml:"tls_config"`
	// StreamPrefix names the streams and buckets.
	StreamPrefix string `yaml:"stream_prefix"`
	// Replicas of every stream and bucket: 1 to 5.
	Replicas int `yaml:"replicas"`
	// DuplicateWindow is how long the pending stream remembers message
	// ids; at most fanout.dedup_window.
	DuplicateWindow model.Duration `yaml:"duplicate_window"`
	// ConnectTimeout bounds connecting and creating the streams.
	ConnectTimeout model.Duration `yaml:"connect_timeout"`
	// LeaseTTL is how long the lanes' lease outlives its holder's last
	// renewal: how soon another replica takes the lanes of one that died.
	LeaseTTL model.Duration `yaml:"lease_ttl"`
}

// The defaults of the storage.nats block.
const (
	DefaultNATSStreamPrefix    = "am-fanout"
	DefaultNATSReplicas        = 3
	DefaultNATSDuplicateWindow = 2 * time.Minute
	DefaultNATSConnectTimeout  = 10 * time.Second
	DefaultNATSLeaseTTL        = 15 * time.Second
)

// DefaultStorage is the storage section used when the file omits it.
func DefaultStorage() Storage { return Storage{Backend: BackendBbolt} }

// UnmarshalYAML applies the defaults, then the block.
func (n *NATSStorage) UnmarshalYAML(node *yaml.Node) error {
	type plain NATSStorage
	if err := checkKeys("", node, reflect.TypeFor[plain]()); err != nil {
		// The strict decoder does not check a block with its own
		// unmarshaler; this says it as the decoder would, "line N: ...".
		return fmt.Errorf("line %s", strings.TrimPrefix(err.Error(), ":"))
	}
	*n = NATSStorage{
		StreamPrefix: DefaultNATSStreamPrefix, Replicas: DefaultNATSReplicas,
		DuplicateWindow: model.Duration(DefaultNATSDuplicateWindow), ConnectTimeout: model.Duration(DefaultNATSConnectTimeout),
		LeaseTTL: model.Duration(DefaultNATSLeaseTTL),
	}
	return node.Decode((*plain)(n))
}

// streamPrefix is what names of streams, buckets and subject tokens
// all accept.
var streamPrefix = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func (s *Storage) validate(pos *position, dir string, dedupWindow model.Duration) error {
	switch s.Backend {
	case BackendBbolt:
		if s.NATS != nil {
			return pos.errorf("storage.nats", "is set but storage.backend is %s; set backend: nats, or remove the block", s.Backend)
		}
		return nil
	case BackendNATS:
	default:
		return pos.errorf("storage.backend", "%q is not one of %s, %s", s.Backend, BackendBbolt, BackendNATS)
	}
	if s.NATS == nil {
		return pos.errorf("storage.backend", "is nats but storage.nats is not set: it needs at least servers")
	}
	return s.NATS.validate(pos, dir, dedupWindow)
}

func (n *NATSStorage) validate(pos *position, dir string, dedupWindow model.Duration) error {
	const at = "storage.nats"
	if len(n.Servers) == 0 {
		return pos.errorf(at+".servers", "must list at least one server")
	}
	for i, srv := range n.Servers {
		if srv == "" || strings.ContainsAny(srv, " ,") {
			return pos.errorf(fmt.Sprintf("%s.servers.%d", at, i), "must be one URL (nats://host:4222), without spaces or commas")
		}
		if strings.Contains(srv, "@") {
			return pos.errorf(fmt.Sprintf("%s.servers.%d", at, i), "holds credentials; use credentials_file, nkey_file or token_file")
		}
	}
	var set []string
	for _, f := range []struct {
		key  string
		path *string
	}{{"credentials_file", &n.CredentialsFile}, {"nkey_file", &n.NKeyFile}, {"token_file", &n.TokenFile}} {
		if *f.path == "" {
			continue
		}
		set = append(set, f.key)
		*f.path = publish.ResolvePath(dir, *f.path)
		if _, err := os.Stat(*f.path); err != nil {
			return pos.errorf(at+"."+f.key, "%v", err)
		}
	}
	if len(set) > 1 {
		return pos.errorf(at+"."+set[1], "and %s are mutually exclusive; set one", set[0])
	}
	if n.TLSConfig != nil {
		n.TLSConfig.SetDirectory(dir)
		if _, err := commoncfg.NewTLSConfig(n.TLSConfig); err != nil {
			return pos.errorf(at+".tls_config", "%v", err)
		}
	}
	if !streamPrefix.MatchString(n.StreamPrefix) {
		return pos.errorf(at+".stream_prefix", "%q must be letters, digits, - and _ only", n.StreamPrefix)
	}
	if n.Replicas < 1 || n.Replicas > 5 {
		return pos.errorf(at+".replicas", "must be 1 to 5 (JetStream's limit), got %d", n.Replicas)
	}
	if n.DuplicateWindow <= 0 {
		return pos.errorf(at+".duplicate_window", "must be positive")
	}
	if dedupWindow > 0 && n.DuplicateWindow > dedupWindow {
		return pos.errorf(at+".duplicate_window", "%s is longer than fanout.dedup_window %s", n.DuplicateWindow, dedupWindow)
	}
	if n.LeaseTTL < model.Duration(time.Second) {
		return pos.errorf(at+".lease_ttl", "must be at least 1s: it is renewed every third of it")
	}
	if n.ConnectTimeout <= 0 {
		return pos.errorf(at+".connect_timeout", "must be positive")
	}
	return nil
}
