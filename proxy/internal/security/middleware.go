package security

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"mcpops.dev/proxy/internal/auth"
	"mcpops.dev/proxy/internal/calls"
	"mcpops.dev/proxy/internal/jsonrpc"
	"mcpops.dev/proxy/internal/metrics"
)

// Guard wraps the MCP path: authentication, then tool policy and rate limits, then the
// proxy (http or stdio) with a body whose every message was checked.
type Guard struct {
	Next    http.Handler
	Auth    *auth.Authenticator // nil: no authentication (auth.mode None or no auth section)
	Policy  *Policy
	Caller  *Limiter            // per caller (subject)
	Tools   map[string]*Limiter // per tool pattern
	Calls   *calls.Recorder
	MaxBody int64
	// Remote reports requests another replica serves (their owner applies the policy,
	// once; authentication happens here and again there).
	Remote   func(*http.Request) bool
	Settings *Settings

	authRefused   *metrics.Vec
	policyRefused *metrics.Vec
}

// Metrics registers the guard's counters.
func (g *Guard) Metrics(reg *metrics.Registry) {
	g.authRefused = reg.Counter("mcpops_proxy_auth_refusals",
		"Requests refused before reaching the server for want of a valid bearer token, by reason (missing, malformed, alg, signature, expired, not_yet_valid, issuer, audience, unknown_key, unavailable).", "reason")
	g.policyRefused = reg.Counter("mcpops_proxy_policy_refusals",
		"Requests refused by tool policy or rate limits, by reason (denied, rate_limited_caller, rate_limited_tool, unparsable).", "reason")
}

// New builds the guard from settings.
func New(s *Settings, next http.Handler, rec *calls.Recorder, maxBody int64, reg *metrics.Registry, onFetch func(bool)) (*Guard, error) {
	g := &Guard{Next: next, Policy: NewPolicy(s.Tools), Calls: rec, MaxBody: maxBody, Settings: s, Tools: map[string]*Limiter{}}
	g.Metrics(reg)
	if a := s.Auth; a != nil && a.Mode == "Bearer" {
		g.Auth = &auth.Authenticator{Skew: dur(a.ClockSkew, 60*time.Second), Now: time.Now}
		for _, is := range a.Issuers {
			client, err := auth.NewClient(is.CAFile)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", is.Issuer, err)
			}
			g.Auth.Issuers = append(g.Auth.Issuers, auth.Issuer{
				Issuer: is.Issuer, Audiences: is.Audiences, Groups: is.GroupsClaim,
				Keys: &auth.KeySource{
					Issuer: is.Issuer, DiscoveryURL: is.DiscoveryURL, JWKSURL: is.JWKSURL, Client: client,
					TokenFile: is.TokenFile, MinRefresh: dur(a.JWKSMinRefresh, 10*time.Second),
					MaxAge: dur(a.JWKSMaxAge, time.Hour), OnFetch: onFetch,
				},
			})
		}
	}
	if rl := s.RateLimits; rl != nil {
		if rl.PerCaller != nil {
			g.Caller = NewLimiter(*rl.PerCaller, time.Now)
		}
		for name, b := range rl.PerTool {
			g.Tools[name] = NewLimiter(b, time.Now)
		}
	}
	return g, nil
}

func dur(d *Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}

// ServeHTTP is the guarded MCP path.
func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	caller := &auth.Caller{Anonymous: true}
	if g.Auth != nil {
		c, failure := g.Auth.Authenticate(r)
		if failure != nil {
			g.authRefused.Inc(failure.Reason)
			g.challenge(w, r, failure)
			return
		}
		caller = c
	}
	caller.Class = g.Policy.Class(caller)
	r = r.WithContext(auth.WithCaller(r.Context(), caller))
	if r.Method != http.MethodPost || !g.checksBodies() || g.Remote != nil && g.Remote(r) {
		g.Next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.MaxBody))
	if err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		writeError(w, status, nil, jsonrpc.InvalidRequest, "request body over the limit or unreadable")
		return
	}
	msgs, batch, err := jsonrpc.Parse(body)
	if err != nil {
		// What the proxy cannot parse it cannot check: it never reaches the server.
		g.policyRefused.Inc("unparsable")
		writeError(w, http.StatusBadRequest, nil, jsonrpc.ParseError, "Parse error: "+err.Error())
		return
	}
	out, lists, refused := g.check(r, caller, msgs)
	if refused != nil {
		refused(w, batch)
		return
	}
	// Re-encoded from what was checked: the server sees exactly the messages the policy
	// judged (no duplicate keys, no case variants another parser would read differently).
	newBody := encode(out, batch)
	r.Body = io.NopCloser(bytes.NewReader(newBody))
	r.ContentLength = int64(len(newBody))
	r.Header.Del("Content-Length")
	if len(lists) == 0 || !g.Policy.Active() {
		g.Next.ServeHTTP(w, r)
		return
	}
	rw := &rewriter{ResponseWriter: w, fix: func(data []byte) []byte { return g.fixLists(data, lists, caller) }}
	g.Next.ServeHTTP(rw, r)
	rw.finish()
}

func (g *Guard) checksBodies() bool {
	return g.Policy.Active() || g.Caller != nil || len(g.Tools) > 0
}

type refusal func(w http.ResponseWriter, batch bool)

// check judges every message; a batch with one refused element is refused whole (so a
// batch cannot smuggle a denied call next to allowed ones), and nothing reaches the server.
func (g *Guard) check(r *http.Request, caller *auth.Caller, msgs []jsonrpc.Message) ([]jsonrpc.Message, map[string]bool, refusal) {
	lists := map[string]bool{}
	type denial struct {
		i      int
		reason string
	}
	var denied []denial
	var wait time.Duration
	limited := ""
	for i := range msgs {
		m := &msgs[i]
		if m.Method == "tools/list" && m.IsRequest() {
			lists[m.IDKey()] = true
		}
		if m.Method != "tools/call" {
			continue
		}
		params, name, err := toolParams(m.Params)
		if err != nil {
			denied = append(denied, denial{i, err.Error()})
			g.Calls.Refused(r.Context(), m, "", "denied", err.Error())
			continue
		}
		server, ok := g.Policy.ServerName(name)
		why := "renamed: call it by its new name"
		if ok {
			ok, why = g.Policy.Allowed(caller, Call{Tool: server, ArgumentsBytes: len(params["arguments"])})
		}
		if !ok {
			denied = append(denied, denial{i, fmt.Sprintf("tool %q is not available to this caller (%s)", name, why)})
			g.Calls.Refused(r.Context(), m, name, "denied", why)
			continue
		}
		if lim, d := g.limit(caller, server); lim != "" {
			limited, wait = lim, max(wait, d)
			g.Calls.Refused(r.Context(), m, server, "rate_limited", lim)
			continue
		}
		if server != name {
			params["name"], _ = json.Marshal(server)
			m.Params, _ = json.Marshal(params)
		} else {
			m.Params, _ = json.Marshal(params)
		}
	}
	if len(denied) > 0 {
		g.policyRefused.Inc("denied")
		reasons := map[int]string{}
		for _, d := range denied {
			reasons[d.i] = d.reason
		}
		return nil, nil, func(w http.ResponseWriter, batch bool) {
			var answers [][]byte
			for i := range msgs {
				if !msgs[i].IsRequest() {
					continue
				}
				why, ok := reasons[i]
				if !ok {
					why = "not sent: another call in this batch was refused"
				}
				answers = append(answers, jsonrpc.ErrorResponse(msgs[i].ID, jsonrpc.InvalidParams, why))
			}
			writeAnswers(w, answers, batch)
		}
	}
	if limited != "" {
		g.policyRefused.Inc(limited)
		secs := int(wait/time.Second) + 1
		return nil, nil, func(w http.ResponseWriter, _ bool) {
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeError(w, http.StatusTooManyRequests, nil, jsonrpc.InternalError,
				fmt.Sprintf("rate limit (%s): retry after %ds", strings.TrimPrefix(limited, "rate_limited_"), secs))
		}
	}
	return msgs, lists, nil
}

// limit takes a token per caller and per tool; it returns the limit that tripped.
func (g *Guard) limit(caller *auth.Caller, server string) (string, time.Duration) {
	if g.Caller != nil {
		if ok, d := g.Caller.Take(caller.Subject); !ok {
			return "rate_limited_caller", d
		}
	}
	// The most specific pattern wins: an exact name, else the longest pattern matching.
	var lim *Limiter
	best := -1
	for pattern, l := range g.Tools {
		if Glob(pattern, server) && len(pattern) > best {
			lim, best = l, len(pattern)
		}
	}
	if lim != nil {
		if ok, d := lim.Take(server); !ok {
			return "rate_limited_tool", d
		}
	}
	return "", 0
}

// toolParams decodes tools/call params as an object with exact keys (Go's struct
// decoding folds case; a server's parser may not) and returns the name.
func toolParams(raw json.RawMessage) (map[string]json.RawMessage, string, error) {
	var params map[string]json.RawMessage
	if json.Unmarshal(raw, &params) != nil || params == nil {
		return nil, "", fmt.Errorf("tools/call params are not an object")
	}
	for k := range params {
		if k != "name" && strings.EqualFold(k, "name") {
			return nil, "", fmt.Errorf("tools/call params carry a second name key %q", k)
		}
	}
	var name string
	if json.Unmarshal(params["name"], &name) != nil || name == "" {
		return nil, "", fmt.Errorf("tools/call params.name is not a string")
	}
	return params, name, nil
}

func encode(msgs []jsonrpc.Message, batch bool) []byte {
	if !batch {
		b, _ := json.Marshal(msgs[0])
		return b
	}
	b, _ := json.Marshal(msgs)
	return b
}

func writeAnswers(w http.ResponseWriter, answers [][]byte, batch bool) {
	w.Header().Set("Content-Type", "application/json")
	if len(answers) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return
	}
	w.WriteHeader(http.StatusOK)
	if !batch {
		_, _ = w.Write(answers[0])
		return
	}
	_, _ = w.Write(append(append([]byte("["), bytes.Join(answers, []byte(","))...), ']'))
}

func writeError(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(jsonrpc.ErrorResponse(id, code, msg))
}

// challenge answers an unauthenticated request the way the MCP authorization spec says:
// 401 with WWW-Authenticate naming the protected-resource metadata.
func (g *Guard) challenge(w http.ResponseWriter, r *http.Request, f *auth.Failure) {
	v := fmt.Sprintf(`Bearer resource_metadata=%q`, baseURL(r)+MetadataPath)
	if f.Code != "" {
		v += fmt.Sprintf(`, error=%q, error_description=%q`, f.Code, strings.ReplaceAll(f.Error(), `"`, `'`))
	}
	w.Header().Set("WWW-Authenticate", v)
	if f.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeError(w, f.Status, nil, jsonrpc.InvalidRequest, "unauthorized: "+f.Error())
}

// MetadataPath is where the protected-resource metadata (RFC 9728) is served.
const MetadataPath = "/.well-known/oauth-protected-resource"

func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Metadata serves the protected-resource metadata: which authorization servers issue
// tokens for this server.
func (g *Guard) Metadata(mcpPath string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := g.Settings.Auth
		resource := baseURL(r) + mcpPath
		var servers []string
		if a != nil {
			if a.Resource != "" {
				resource = a.Resource
			}
			servers = a.AuthorizationServers
			if len(servers) == 0 {
				for _, is := range a.Issuers {
					servers = append(servers, is.Issuer)
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"resource": resource, "authorization_servers": servers, "bearer_methods_supported": []string{"header"},
		})
	}
}
