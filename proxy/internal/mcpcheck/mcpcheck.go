// Package mcpcheck tells whether an MCP server works, the way a careful client would.
//
// Classification: POST `server/discover` first; the server speaks 2026-07-28 only if the
// answer lists that version. 401/403/429/5xx, timeouts and refused connections are
// inconclusive (the server is not "old", we just do not know yet). Anything else falls
// back to `initialize` with 2025-11-25, then 2025-06-18. The verdict is cached.
//
// Readiness is a full MCP exchange within the ready timeout (discover + ping for
// 2026-07-28; initialize, initialized, ping, session close before it). Liveness is one
// cheap request within the live timeout (discover, or ping in a session the checker
// keeps): a slow server is unready, a hung one is not live.
package mcpcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mcpops.dev/proxy/internal/jsonrpc"
)

// Protocol revisions.
const (
	Modern   = "2026-07-28"
	Latest   = "2025-11-25"
	Previous = "2025-06-18"
)

// Envelope keys of 2026-07-28 requests.
const (
	metaVersion      = "io.modelcontextprotocol/protocolVersion"
	metaCapabilities = "io.modelcontextprotocol/clientCapabilities"
	metaClientInfo   = "io.modelcontextprotocol/clientInfo"
)

// Handshake revisions the checker accepts from an initialize answer.
var handshake = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// ErrNotListening: nothing serves the server yet (a stdio child that exited reports it
// like a refused connection).
var ErrNotListening = errors.New("connection refused")

// Result of one check.
type Result struct {
	OK           bool
	Inconclusive bool   // could not tell (auth, rate limit, 5xx, timeout, refused)
	Timeout      bool   // no answer in time: what a hung server looks like
	Refused      bool   // nothing listening (starting, or exited)
	Reason       string // "ok" or why not, one line
	Version      string // protocol revision, once known
	Latency      time.Duration
}

// Checker checks one server.
type Checker struct {
	Ex           Exchanger
	ReadyTimeout time.Duration
	LiveTimeout  time.Duration
	// Persistent: the transport is one connection (a stdio child), so readiness pings in
	// the kept session instead of opening a new one each time.
	Persistent bool
	// TTL: how long a readiness result is reused (kubelet probes and scrapes share one).
	TTL time.Duration

	nextID atomic.Int64

	mu      sync.Mutex // one readiness check at a time
	verdict atomic.Pointer[string]
	// listMethod: what a 2026-07-28 readiness check lists (from discover's capabilities)
	listMethod atomic.Pointer[string]
	lastAt     time.Time
	last       Result
	everOK     atomic.Bool
	liveMu     sync.Mutex // the kept session for liveness pings
	liveSess   string
	liveInit   bool
}

// Version is the cached protocol revision ("" until known).
func (c *Checker) Version() string {
	if v := c.verdict.Load(); v != nil {
		return *v
	}
	return ""
}

func (c *Checker) setVersion(v string) { c.verdict.Store(&v) }

// EverReady: the server has passed readiness once.
func (c *Checker) EverReady() bool { return c.everOK.Load() }

func (c *Checker) id() int64 { return c.nextID.Add(1) }

// failure classifies a transport error.
func failure(stage string, err error, status int) Result {
	r := Result{Reason: stage}
	switch {
	case err != nil && (errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout") || strings.Contains(err.Error(), "timeout")):
		r.Inconclusive, r.Timeout = true, true
		r.Reason = fmt.Sprintf("%s: no answer in time", stage)
	case err != nil && (errors.Is(err, ErrNotListening) || strings.Contains(err.Error(), "connection refused")):
		r.Inconclusive, r.Refused = true, true
		r.Reason = fmt.Sprintf("%s: connection refused (nothing listening)", stage)
	case err != nil:
		r.Inconclusive = true
		r.Reason = fmt.Sprintf("%s: %v", stage, err)
	case status == 401 || status == 403 || status == 429 || status >= 500:
		r.Inconclusive = true
		r.Reason = fmt.Sprintf("%s: HTTP %d", stage, status)
	default:
		r.Reason = fmt.Sprintf("%s: HTTP %d", stage, status)
	}
	return r
}

func envelope(params map[string]any) map[string]any {
	if params == nil {
		params = map[string]any{}
	}
	params["_meta"] = map[string]any{
		metaVersion:      Modern,
		metaCapabilities: map[string]any{},
		metaClientInfo:   map[string]any{"name": "mcpops-proxy", "version": "1"},
	}
	return params
}

func modernHeader(method string) http.Header {
	return http.Header{"Mcp-Protocol-Version": {Modern}, "Mcp-Method": {method}}
}

// discover asks server/discover; modern=true if the answer lists 2026-07-28.
func (c *Checker) discover(ctx context.Context) (modern bool, res Result) {
	body, _ := jsonrpc.Request(c.id(), "server/discover", envelope(nil))
	rep, err := c.Ex.Exchange(ctx, modernHeader("server/discover"), body)
	if err != nil || rep.Status == 401 || rep.Status == 403 || rep.Status == 429 || rep.Status >= 500 {
		return false, failure("server/discover", err, rep.Status)
	}
	if rep.Msg == nil || rep.Msg.Result == nil {
		return false, Result{Reason: "server/discover: not answered"}
	}
	var r struct {
		Versions     []string                   `json:"supportedVersions"`
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	if json.Unmarshal(rep.Msg.Result, &r) != nil || !slices.Contains(r.Versions, Modern) {
		return false, Result{Reason: "server/discover: " + Modern + " not listed"}
	}
	c.listMethod.Store(&listNone)
	for _, cap := range []string{"tools", "resources", "prompts"} {
		if _, ok := r.Capabilities[cap]; ok {
			m := cap + "/list"
			c.listMethod.Store(&m)
			break
		}
	}
	return true, Result{OK: true, Version: Modern, Reason: "ok"}
}

var listNone = ""

// modernExchange is the second half of a 2026-07-28 readiness check (2026-07-28 has no
// ping): list what the server offers, the first thing any client does.
func (c *Checker) modernExchange(ctx context.Context) Result {
	m := c.listMethod.Load()
	if m == nil || *m == "" {
		return Result{OK: true, Reason: "ok", Version: Modern}
	}
	body, _ := jsonrpc.Request(c.id(), *m, envelope(nil))
	rep, err := c.Ex.Exchange(ctx, modernHeader(*m), body)
	if err != nil || rep.Status >= 400 {
		return failure(*m, err, rep.Status)
	}
	if rep.Msg == nil || rep.Msg.Error != nil {
		return Result{Reason: *m + ": no answer", Version: Modern}
	}
	return Result{OK: true, Reason: "ok", Version: Modern}
}

// initialize opens a session with version; returns the session id (HTTP) and revision.
func (c *Checker) initialize(ctx context.Context, version string) (sess string, res Result) {
	body, _ := jsonrpc.Request(c.id(), "initialize", map[string]any{
		"protocolVersion": version,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "mcpops-proxy", "version": "1"},
	})
	rep, err := c.Ex.Exchange(ctx, http.Header{}, body)
	if err != nil || rep.Status == 401 || rep.Status == 403 || rep.Status == 429 || rep.Status >= 500 {
		return "", failure("initialize", err, rep.Status)
	}
	if rep.Msg == nil || rep.Msg.Result == nil {
		why := "not answered"
		if rep.Msg != nil && rep.Msg.Error != nil {
			why = fmt.Sprintf("error %d: %s", rep.Msg.Error.Code, rep.Msg.Error.Message)
		}
		return "", Result{Reason: fmt.Sprintf("initialize %s: HTTP %d, %s", version, rep.Status, why)}
	}
	var r struct {
		Version string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(rep.Msg.Result, &r)
	if !slices.Contains(handshake, r.Version) {
		return "", Result{Reason: fmt.Sprintf("initialize: unknown protocolVersion %q", r.Version)}
	}
	if rep.Header != nil {
		sess = rep.Header.Get("Mcp-Session-Id")
	}
	note, _ := jsonrpc.Notification("notifications/initialized", nil)
	if _, err := c.Ex.Exchange(ctx, sessionHeader(sess, r.Version), note); err != nil {
		return sess, failure("notifications/initialized", err, 0)
	}
	return sess, Result{OK: true, Version: r.Version, Reason: "ok"}
}

func sessionHeader(sess, version string) http.Header {
	h := http.Header{"Mcp-Protocol-Version": {version}}
	if sess != "" {
		h.Set("Mcp-Session-Id", sess)
	}
	return h
}

func (c *Checker) ping(ctx context.Context, sess, version string) Result {
	if version == Modern {
		return c.modernExchange(ctx)
	}
	body, _ := jsonrpc.Request(c.id(), "ping", nil)
	h := sessionHeader(sess, version)
	rep, err := c.Ex.Exchange(ctx, h, body)
	if err != nil || rep.Status >= 400 && rep.Status != 404 {
		return failure("ping", err, rep.Status)
	}
	if rep.Status == 404 {
		return Result{Reason: "ping: session gone (HTTP 404)", Version: version}
	}
	if rep.Msg == nil || rep.Msg.Error != nil {
		return Result{Reason: "ping: no answer", Version: version}
	}
	return Result{OK: true, Reason: "ok", Version: version}
}

// classify finds the protocol revision, or says why it cannot.
func (c *Checker) classify(ctx context.Context) (sess string, res Result) {
	modern, res := c.discover(ctx)
	if modern {
		return "", res
	}
	if res.Inconclusive {
		return "", res
	}
	var last Result
	for _, v := range []string{Latest, Previous} {
		sess, r := c.initialize(ctx, v)
		if r.OK || r.Inconclusive {
			return sess, r
		}
		last = r
	}
	last.Reason = "not an MCP server: " + res.Reason + "; " + last.Reason
	return "", last
}

// Ready runs a full exchange within ReadyTimeout (results reused for TTL).
func (c *Checker) Ready(ctx context.Context) Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.TTL > 0 && !c.lastAt.IsZero() && time.Since(c.lastAt) < c.TTL {
		return c.last
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.ReadyTimeout)
	defer cancel()
	r := c.readyLocked(ctx)
	r.Latency = time.Since(start)
	if r.Timeout {
		r.Reason = fmt.Sprintf("%s (ready timeout %s)", r.Reason, c.ReadyTimeout)
	}
	if r.OK {
		c.everOK.Store(true)
	}
	c.last, c.lastAt = r, time.Now()
	return r
}

func (c *Checker) readyLocked(ctx context.Context) Result {
	if c.Persistent {
		// One connection: classify once, then ping in the session it opened.
		c.liveMu.Lock()
		defer c.liveMu.Unlock()
		return c.pingKept(ctx)
	}
	version := c.Version()
	if version == "" {
		sess, r := c.classify(ctx)
		if !r.OK {
			return r
		}
		c.setVersion(r.Version)
		p := c.ping(ctx, sess, r.Version)
		c.Ex.Close(context.WithoutCancel(ctx), sess)
		return p
	}
	if version == Modern {
		if ok, r := c.discover(ctx); !ok {
			if !r.Inconclusive {
				c.setVersion("") // the answer changed: classify again next time
			}
			return r
		}
		return c.ping(ctx, "", Modern)
	}
	sess, r := c.initialize(ctx, version)
	if !r.OK {
		if !r.Inconclusive {
			c.setVersion("")
		}
		return r
	}
	p := c.ping(ctx, sess, r.Version)
	c.Ex.Close(context.WithoutCancel(ctx), sess)
	return p
}

// pingKept pings in the kept session, classifying/initializing first if needed.
// Caller holds liveMu.
func (c *Checker) pingKept(ctx context.Context) Result {
	if !c.liveInit {
		version := c.Version()
		var sess string
		var r Result
		if version == "" || version != Modern && !c.Persistent {
			sess, r = c.classify(ctx)
		} else if version == Modern {
			r = Result{OK: true, Version: Modern}
		} else {
			sess, r = c.initialize(ctx, version)
		}
		if !r.OK {
			return r
		}
		c.setVersion(r.Version)
		c.liveSess, c.liveInit = sess, true
	}
	version := c.Version()
	var r Result
	if version == Modern {
		ok, d := c.discover(ctx)
		if !ok {
			d.Version = Modern
			return d
		}
		r = d
	} else {
		r = c.ping(ctx, c.liveSess, version)
	}
	if !r.OK && !r.Inconclusive || r.Refused {
		c.liveInit = false // session gone or server restarted: open a new one next time
	}
	return r
}

// Live is the cheap check within LiveTimeout: one request that any MCP server answers
// without a session (server/discover: a result from 2026-07-28 servers, an HTTP 400 from
// older ones), or a ping in the kept session on a one-connection transport. A refused
// connection before the server was ever ready counts as starting (live); no answer in
// time always fails: that is a hung server.
func (c *Checker) Live(ctx context.Context) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.LiveTimeout)
	defer cancel()
	var r Result
	if c.Persistent {
		c.liveMu.Lock()
		r = c.pingKept(ctx)
		c.liveMu.Unlock()
	} else {
		r = c.answers(ctx)
	}
	r.Latency = time.Since(start)
	switch {
	case r.OK:
	case r.Timeout:
		r.Reason = fmt.Sprintf("%s (live timeout %s): the server is hung", r.Reason, c.LiveTimeout)
	case r.Refused && !c.EverReady():
		r.OK, r.Reason = true, "starting: "+r.Reason
	case r.Inconclusive && !r.Refused:
		// Auth, rate limits and 5xx are answers: the process is alive.
		r.OK, r.Reason = true, "answering: "+r.Reason
	}
	return r
}

// answers: the server returns some HTTP answer to a discover request.
func (c *Checker) answers(ctx context.Context) Result {
	body, _ := jsonrpc.Request(c.id(), "server/discover", envelope(nil))
	rep, err := c.Ex.Exchange(ctx, modernHeader("server/discover"), body)
	if err != nil {
		return failure("server/discover", err, 0)
	}
	return Result{OK: true, Reason: fmt.Sprintf("ok (HTTP %d)", rep.Status), Version: c.Version()}
}
