package dns

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Cache limits: answers are kept for their TTL but at most maxTTL (negative answers
// negTTL), and the cache never holds more than maxEntries answers.
const (
	maxTTL     = 300 * time.Second
	negTTL     = 30 * time.Second
	maxEntries = 10000
	// maxInFlight bounds the queries waiting on upstreams at once: each holds a goroutine
	// and a socket until its timeout, so a tenant flooding names a slow upstream never
	// answers could otherwise run the process out of file descriptors.
	maxInFlight = 1000
)

// Forwarder sends queries outside the cluster zone to upstream resolvers, in order, and
// caches their answers.
type Forwarder struct {
	Upstreams []string // host:port
	Timeout   time.Duration

	mu    sync.Mutex
	cache map[cacheKey]cached
	now   func() time.Time
	slots chan struct{} // one per query waiting on an upstream
}

type cacheKey struct {
	name        string
	qtype, cls  uint16
	dnssecOK    bool
	checkingOff bool
}

type cached struct {
	msg     *dns.Msg
	stored  time.Time
	expires time.Time
}

// NewForwarder returns a forwarder to upstreams (host:port each).
func NewForwarder(upstreams []string, timeout time.Duration) *Forwarder {
	return &Forwarder{Upstreams: upstreams, Timeout: timeout, cache: map[cacheKey]cached{}, now: time.Now, slots: make(chan struct{}, maxInFlight)}
}

// ErrNoUpstream is returned when no upstream answered.
var ErrNoUpstream = errors.New("no upstream resolver answered")

// ErrBusy is returned, without asking upstream, while maxInFlight queries wait on upstreams.
var ErrBusy = errors.New("too many queries waiting on the upstream resolvers")

// Forward answers req (one question) from the cache or the upstreams.
func (f *Forwarder) Forward(ctx context.Context, req *dns.Msg) (*dns.Msg, error) {
	key := keyOf(req)
	if m := f.lookup(key); m != nil {
		m.Id = req.Id
		return m, nil
	}
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	default:
		return nil, ErrBusy
	}
	var errs []error
	for _, up := range f.Upstreams {
		m, err := f.exchange(ctx, req, up)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", up, err))
			continue
		}
		if m.Rcode == dns.RcodeServerFailure || m.Rcode == dns.RcodeRefused {
			errs = append(errs, fmt.Errorf("%s: %s", up, dns.RcodeToString[m.Rcode]))
			continue
		}
		f.store(key, m)
		return m, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrNoUpstream, errors.Join(errs...))
}

func (f *Forwarder) exchange(ctx context.Context, req *dns.Msg, upstream string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	q := req.Copy()
	q.Id = dns.Id()
	m, _, err := (&dns.Client{Net: "udp", UDPSize: dns.DefaultMsgSize}).ExchangeContext(ctx, q, upstream)
	if err == nil && m.Truncated {
		m, _, err = (&dns.Client{Net: "tcp"}).ExchangeContext(ctx, q, upstream)
	}
	if err != nil {
		return nil, err
	}
	if m.Id != q.Id || len(m.Question) != 1 || !strings.EqualFold(m.Question[0].Name, q.Question[0].Name) {
		return nil, errors.New("answer does not match the question")
	}
	m.Id = req.Id
	return m, nil
}

func keyOf(req *dns.Msg) cacheKey {
	q := req.Question[0]
	k := cacheKey{name: strings.ToLower(q.Name), qtype: q.Qtype, cls: q.Qclass, checkingOff: req.CheckingDisabled}
	if o := req.IsEdns0(); o != nil {
		k.dnssecOK = o.Do()
	}
	return k
}

func (f *Forwarder) lookup(k cacheKey) *dns.Msg {
	f.mu.Lock()
	c, ok := f.cache[k]
	f.mu.Unlock()
	now := f.now()
	if !ok || now.After(c.expires) {
		return nil
	}
	m := c.msg.Copy()
	age := uint32(now.Sub(c.stored) / time.Second)
	for _, rrs := range [][]dns.RR{m.Answer, m.Ns, m.Extra} {
		for _, rr := range rrs {
			if h := rr.Header(); h.Rrtype != dns.TypeOPT {
				h.Ttl -= min(age, h.Ttl)
			}
		}
	}
	return m
}

func (f *Forwarder) store(k cacheKey, m *dns.Msg) {
	ttl := cacheTTL(m)
	if ttl <= 0 {
		return
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.cache) >= maxEntries {
		// Evict expired answers first, then arbitrary ones (map order) down to 90%.
		for key, c := range f.cache {
			if now.After(c.expires) || len(f.cache) > maxEntries*9/10 {
				delete(f.cache, key)
			}
		}
	}
	f.cache[k] = cached{msg: m.Copy(), stored: now, expires: now.Add(ttl)}
}

// cacheTTL is how long m may be cached: its smallest TTL, capped; negative answers by the
// SOA's minimum, capped lower.
func cacheTTL(m *dns.Msg) time.Duration {
	if m.Truncated {
		return 0
	}
	if m.Rcode == dns.RcodeNameError || (m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0) {
		for _, rr := range m.Ns {
			if soa, ok := rr.(*dns.SOA); ok {
				return min(time.Duration(min(soa.Minttl, soa.Hdr.Ttl))*time.Second, negTTL)
			}
		}
		return 0
	}
	if m.Rcode != dns.RcodeSuccess {
		return 0
	}
	ttl := maxTTL
	for _, rr := range m.Answer {
		ttl = min(ttl, time.Duration(rr.Header().Ttl)*time.Second)
	}
	return ttl
}
