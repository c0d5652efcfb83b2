package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Caller is who made a request, as the rules and the audit log see it.
type Caller struct {
	Subject        string   `json:"sub"`
	Issuer         string   `json:"iss,omitempty"`
	Groups         []string `json:"groups,omitempty"`
	ServiceAccount string   `json:"serviceAccount,omitempty"` // namespace/name, for API server tokens
	Class          string   `json:"class"`                    // the matching rule's name (bounded: a metric label)
	Anonymous      bool     `json:"-"`
	// Every claim of the verified token as JSON decodes it (for rules' CEL `when`); read only.
	Claims map[string]any `json:"-"`
}

type callerKey struct{}

// WithCaller stores the caller in a request context.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom reads the caller of a request (nil: none recorded).
func CallerFrom(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// Issuer is one trusted token issuer.
type Issuer struct {
	Issuer    string
	Audiences []string
	Keys      *KeySource
	Groups    string // claim holding the caller's groups
}

// Authenticator checks the Authorization header against the trusted issuers.
type Authenticator struct {
	Issuers []Issuer
	Skew    time.Duration
	Now     func() time.Time

	// Verified tokens, by their SHA-256, until min(exp+skew, a minute on): an agent sends
	// the same token with every request, and a signature check costs 0.1-0.3 ms.
	mu    sync.Mutex
	cache map[[32]byte]cached
}

type cached struct {
	caller *Caller
	until  time.Time
}

const (
	cacheSize = 4096
	cacheFor  = time.Minute
)

func (a *Authenticator) lookup(sum [32]byte, now time.Time) *Caller {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.cache[sum]; ok && now.Before(c.until) {
		cp := *c.caller // callers are annotated per request (Class)
		return &cp
	}
	return nil
}

func (a *Authenticator) remember(sum [32]byte, c *Caller, claims *Claims, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cache == nil || len(a.cache) >= cacheSize {
		a.cache = map[[32]byte]cached{} // simple and bounded: start over when full
	}
	until := now.Add(cacheFor)
	if exp := claims.Expiry.Add(a.Skew); exp.Before(until) {
		until = exp
	}
	cp := *c
	a.cache[sum] = cached{caller: &cp, until: until}
}

// Failure says why a request is not authenticated, and how to answer.
type Failure struct {
	Status int    // 401, or 503 when an issuer's keys cannot be fetched
	Code   string // RFC 6750 error: "" (no token), invalid_request, invalid_token
	Reason string // metric label: missing, malformed, alg, signature, expired, not_yet_valid, issuer, audience, unknown_key, unavailable
	Err    error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return "no bearer token"
	}
	return f.Err.Error()
}

// Authenticate returns the caller, or why not.
func (a *Authenticator) Authenticate(r *http.Request) (*Caller, *Failure) {
	values := r.Header.Values("Authorization")
	if len(values) == 0 {
		return nil, &Failure{Status: http.StatusUnauthorized, Reason: "missing"}
	}
	scheme, raw, ok := strings.Cut(values[0], " ")
	if len(values) > 1 || !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, &Failure{Status: http.StatusUnauthorized, Code: "invalid_request", Reason: "malformed",
			Err: errors.New("expected one Authorization: Bearer <token> header")}
	}
	raw = strings.TrimSpace(raw)
	now := a.Now()
	sum := sha256.Sum256([]byte(raw))
	if c := a.lookup(sum, now); c != nil {
		return c, nil
	}
	tok, err := Parse(raw)
	if err != nil {
		return nil, fail(err)
	}
	var iss *Issuer
	for i := range a.Issuers {
		if a.Issuers[i].Issuer == tok.Claims.Issuer {
			iss = &a.Issuers[i]
		}
	}
	if iss == nil {
		return nil, fail(fmt.Errorf("%w: %q", ErrIssuer, tok.Claims.Issuer))
	}
	// Claims first (cheap, no fetch): an expired or foreign token never triggers a key fetch.
	if err := tok.Claims.Validate(iss.Issuer, iss.Audiences, now, a.Skew); err != nil {
		return nil, fail(err)
	}
	key, err := iss.Keys.Key(r.Context(), tok.Header.Kid, now)
	if err != nil {
		return nil, fail(err)
	}
	if err := tok.Verify(key); err != nil {
		return nil, fail(err)
	}
	c := callerOf(&tok.Claims, iss.Groups)
	a.remember(sum, c, &tok.Claims, now)
	return c, nil
}

func fail(err error) *Failure {
	reasons := []struct {
		err    error
		reason string
	}{
		{ErrAlg, "alg"}, {ErrSignature, "signature"}, {ErrExpired, "expired"}, {ErrNotYet, "not_yet_valid"},
		{ErrIssuer, "issuer"}, {ErrAudience, "audience"}, {ErrNoKey, "unknown_key"}, {ErrMalformed, "malformed"},
	}
	if ErrUnavailable(err) {
		return &Failure{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Reason: "unavailable", Err: err}
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return &Failure{Status: http.StatusUnauthorized, Code: "invalid_token", Reason: r.reason, Err: err}
		}
	}
	return &Failure{Status: http.StatusUnauthorized, Code: "invalid_token", Reason: "malformed", Err: err}
}

// callerOf maps claims to a caller. API server tokens name their ServiceAccount in sub
// (system:serviceaccount:NS:NAME) and in the kubernetes.io claim; sub is what is signed
// in both, so it is the one read.
func callerOf(c *Claims, groupsClaim string) *Caller {
	out := &Caller{Subject: c.Subject, Issuer: c.Issuer, Claims: make(map[string]any, len(c.Raw))}
	for k, raw := range c.Raw {
		var v any
		if json.Unmarshal(raw, &v) == nil {
			out.Claims[k] = v
		}
	}
	if rest, ok := strings.CutPrefix(c.Subject, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok && ns != "" && name != "" && !strings.Contains(name, ":") {
			out.ServiceAccount = ns + "/" + name
			out.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}
		}
	}
	if groupsClaim == "" {
		groupsClaim = "groups"
	}
	if raw, ok := c.Raw[groupsClaim]; ok {
		var groups []string
		if json.Unmarshal(raw, &groups) == nil {
			out.Groups = append(out.Groups, groups...)
		}
	}
	return out
}
