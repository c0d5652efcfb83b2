package security

import (
	"fmt"
	"math"
	"path"
	"strings"
	"sync"
	"time"

	"mcpops.dev/proxy/internal/auth"
)

// Glob matches name against a pattern where * is any run of bytes and every other byte
// matches itself. Names are compared as exact bytes, with no Unicode normalization or
// case folding: a look-alike ("еcho" with a Cyrillic е) or a differently composed name
// is a different name, so it is outside an allow-list written in ASCII, and an
// allow-list entry never admits more than the bytes it names.
func Glob(pattern, name string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == name
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(name, mid)
		if i < 0 {
			return false
		}
		name = name[i+len(mid):]
	}
	return strings.HasSuffix(name, last)
}

func anyGlob(patterns []string, name string) bool {
	for _, p := range patterns {
		if Glob(p, name) {
			return true
		}
	}
	return false
}

// Policy decides which tools a caller sees and may call.
type Policy struct {
	t *ToolSettings
	// public name -> server name, and server name -> override
	toServer map[string]string
}

// NewPolicy compiles tool settings (nil: every tool, unchanged).
func NewPolicy(t *ToolSettings) *Policy {
	p := &Policy{t: t, toServer: map[string]string{}}
	if t != nil {
		for server, o := range t.Overrides {
			if o.Name != "" {
				p.toServer[o.Name] = server
			}
		}
	}
	return p
}

// Active reports whether the policy changes anything.
func (p *Policy) Active() bool { return p.t != nil }

// ServerName maps the name a client used to the server's name; ok=false when the
// client used a server name that is renamed (only the new name exists for clients).
func (p *Policy) ServerName(public string) (string, bool) {
	if s, ok := p.toServer[public]; ok {
		return s, true
	}
	if p.t != nil {
		if o, ok := p.t.Overrides[public]; ok && o.Name != "" && o.Name != public {
			return "", false
		}
	}
	return public, true
}

// PublicName is the name clients see for a server tool.
func (p *Policy) PublicName(server string) string {
	if p.t != nil {
		if o, ok := p.t.Overrides[server]; ok && o.Name != "" {
			return o.Name
		}
	}
	return server
}

// Rule returns the first rule without a when whose match matches the caller (nil: none,
// or no rules): the caller's class. Rules with a when are skipped, as their answer depends
// on the tool and a class is the caller's alone.
func (p *Policy) Rule(c *auth.Caller) *Rule {
	if p.t == nil {
		return nil
	}
	for i := range p.t.Rules {
		if p.t.Rules[i].when == nil && p.t.Rules[i].Match.matches(c) {
			return &p.t.Rules[i]
		}
	}
	return nil
}

// Class is the caller's bounded label: the name of the first rule without a when whose
// match matches, else authenticated/anonymous.
func (p *Policy) Class(c *auth.Caller) string {
	if r := p.Rule(c); r != nil {
		return r.Name
	}
	if c == nil || c.Anonymous {
		return "anonymous"
	}
	return "authenticated"
}

// Allowed says whether caller may see and call the server tool, and if not why.
func (p *Policy) Allowed(c *auth.Caller, call Call) (bool, string) {
	t := p.t
	if t == nil {
		return true, ""
	}
	server := call.Tool
	if len(t.Allow) > 0 && !anyGlob(t.Allow, server) {
		return false, "not in tools.allow"
	}
	if anyGlob(t.Deny, server) {
		return false, "in tools.deny"
	}
	if len(t.Rules) == 0 {
		return true, ""
	}
	r, err := p.applying(c, call)
	switch {
	case err != nil:
		return false, err.Error()
	case r == nil:
		return false, "no tools.rules entry matches this caller and tool"
	case len(r.Allow) > 0 && !anyGlob(r.Allow, server):
		return false, "not allowed by rule " + r.Name
	case anyGlob(r.Deny, server):
		return false, "denied by rule " + r.Name
	}
	return true, ""
}

// applying is the first rule that applies to the call: its match matches the caller and
// its when (if any) is true. An expression that fails to evaluate refuses the call rather
// than falling through to a later, perhaps wider, rule: fail closed.
func (p *Policy) applying(c *auth.Caller, call Call) (*Rule, error) {
	for i := range p.t.Rules {
		r := &p.t.Rules[i]
		if !r.Match.matches(c) {
			continue
		}
		if r.when == nil {
			return r, nil
		}
		ok, err := evalWhen(r.when, c, call)
		if err != nil {
			return nil, fmt.Errorf("rule %s: when failed: %v", r.Name, err)
		}
		if ok {
			return r, nil
		}
	}
	return nil, nil
}

func (m *Match) matches(c *auth.Caller) bool {
	if len(m.Subjects) == 0 && len(m.Groups) == 0 && len(m.ServiceAccounts) == 0 {
		return true
	}
	if c == nil || c.Anonymous {
		return false
	}
	for _, s := range m.Subjects {
		if s == c.Subject {
			return true
		}
	}
	for _, g := range m.Groups {
		for _, have := range c.Groups {
			if g == have {
				return true
			}
		}
	}
	if c.ServiceAccount != "" {
		for _, sa := range m.ServiceAccounts {
			// namespace/name with * for either part; path.Match never crosses the /.
			if ok, _ := path.Match(sa, c.ServiceAccount); ok {
				return true
			}
		}
	}
	return false
}

// Limiter is a set of token buckets by key.
type Limiter struct {
	rate, burst float64
	mu          sync.Mutex
	buckets     map[string]*bucket
	now         func() time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// maxBuckets bounds the memory callers can make the proxy spend (one bucket per
// subject); past it, full buckets (idle callers) are dropped.
const maxBuckets = 10000

// NewLimiter makes buckets refilling at rate per second up to burst.
func NewLimiter(b Bucket, now func() time.Time) *Limiter {
	return &Limiter{rate: b.PerSecond, burst: b.Burst, buckets: map[string]*bucket{}, now: now}
}

// Take spends one token for key; when none is left it returns how long until one is.
func (l *Limiter) Take(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

func (l *Limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}
