// Package calls records what flows through the proxy: per-method requests, per-tool
// calls, errors and latency, and one structured JSON log line per call.
package calls

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"sync"
	"time"

	"mcpops.dev/proxy/internal/auth"
	"mcpops.dev/proxy/internal/jsonrpc"
	"mcpops.dev/proxy/internal/metrics"
)

// Recorder holds the call metrics.
type Recorder struct {
	Requests     *metrics.Vec
	RequestTime  *metrics.HistogramVec
	ToolCalls    *metrics.Vec
	ToolDuration *metrics.HistogramVec
	log          io.Writer
	logMu        sync.Mutex
	LogCalls     bool
	// Audit, when set, writes one "audit" record per tools/call (allowed or refused).
	Audit *Audit

	toolsMu sync.Mutex
	tools   map[string]bool // tool label values in use
}

// MaxTools bounds the tool label's values: tool names come from clients (a call to a
// tool that does not exist is still a call), so past this many the rest count as "other".
const MaxTools = 200

func (r *Recorder) toolLabel(name string) string {
	r.toolsMu.Lock()
	defer r.toolsMu.Unlock()
	if r.tools == nil {
		r.tools = map[string]bool{}
	}
	if r.tools[name] || len(r.tools) < MaxTools {
		r.tools[name] = true
		return name
	}
	return "other"
}

// New registers the call metrics in reg; log lines go to log.
func New(reg *metrics.Registry, log io.Writer) *Recorder {
	return &Recorder{
		Requests: reg.Counter("mcpops_proxy_requests",
			"JSON-RPC requests through the proxy, by method and outcome (ok, error: a JSON-RPC error or isError result, failed: no answer).", "method", "outcome"),
		RequestTime: reg.Histogram("mcpops_proxy_request_duration_seconds",
			"Time from a request reaching the proxy to its answer, by method.", metrics.LatencyBuckets, "method"),
		ToolCalls: reg.Counter("mcpops_proxy_tool_calls",
			"tools/call requests by tool, outcome (ok, error, failed; denied, rate_limited: refused by the proxy's policy) and caller class (the first matching tools.rules entry without a when, else authenticated or anonymous); past 200 distinct tool names the rest count as other.", "tool", "outcome", "caller_class"),
		ToolDuration: reg.Histogram("mcpops_proxy_tool_call_duration_seconds",
			"tools/call latency by tool and caller class.", metrics.LatencyBuckets, "tool", "caller_class"),
		log:      log,
		LogCalls: true,
	}
}

// Call is one request in flight.
type Call struct {
	r       *Recorder
	method  string
	tool    string
	session string
	start   time.Time
	caller  *auth.Caller
	name    string // the tool's name, unbounded (audit only)
	args    json.RawMessage
}

// Start begins timing a request; the caller comes from ctx (auth.WithCaller).
func (r *Recorder) Start(ctx context.Context, m *jsonrpc.Message, session string) *Call {
	c := &Call{r: r, method: methodLabel(m.Method), session: session, start: time.Now(), caller: auth.CallerFrom(ctx)}
	if name := m.ToolName(); name != "" {
		c.tool = r.toolLabel(name)
		c.name = name
		c.args = arguments(m.Params)
	}
	return c
}

func (c *Call) class() string {
	if c.caller == nil || c.caller.Class == "" {
		return "anonymous"
	}
	return c.caller.Class
}

// Known methods keep their name; anything else is "other" so a client cannot blow up
// the metric's cardinality.
var known = map[string]bool{
	"initialize": true, "ping": true, "server/discover": true, "tools/list": true, "tools/call": true,
	"resources/list": true, "resources/read": true, "resources/templates/list": true,
	"resources/subscribe": true, "resources/unsubscribe": true, "prompts/list": true,
	"prompts/get": true, "completion/complete": true, "logging/setLevel": true,
	"subscriptions/listen": true, "tasks/get": true, "tasks/result": true, "tasks/list": true, "tasks/cancel": true,
}

func methodLabel(m string) string {
	if known[m] {
		return m
	}
	return "other"
}

// Done records the answer (nil: none came, e.g. the client left or the server failed).
func (c *Call) Done(answer *jsonrpc.Message, status int) {
	elapsed := time.Since(c.start)
	outcome := "ok"
	switch {
	case answer == nil:
		outcome = "failed"
	case answer.Error != nil || c.tool != "" && answer.ToolFailed():
		outcome = "error"
	}
	c.r.Requests.Inc(c.method, outcome)
	c.r.RequestTime.Observe(elapsed.Seconds(), c.method)
	if c.tool != "" {
		c.r.ToolCalls.Inc(c.tool, outcome, c.class())
		c.r.ToolDuration.Observe(elapsed.Seconds(), c.tool, c.class())
		c.r.audit(c, outcome, elapsed, "")
	}
	if !c.r.LogCalls || c.r.log == nil {
		return
	}
	line := map[string]any{
		"ts": time.Now().UTC().Format(time.RFC3339Nano), "level": "info", "event": "call",
		"method": c.method, "outcome": outcome, "ms": float64(elapsed.Microseconds()) / 1000, "status": status,
	}
	if c.tool != "" {
		line["tool"] = c.tool
	}
	if c.session != "" {
		line["session"] = c.session
	}
	if answer != nil && answer.Error != nil {
		line["error"] = answer.Error.Message
	}
	c.r.write(line)
}

func (r *Recorder) write(line map[string]any) {
	b, _ := json.Marshal(line)
	r.logMu.Lock()
	_, _ = r.log.Write(append(b, '\n'))
	r.logMu.Unlock()
}

// Audit configures the per-call record.
type Audit struct {
	IncludeArguments bool
	Revision         string
}

// Refused records a tools/call the proxy refused (policy, rate limit): counted in the
// tool metrics and audited, though it never reached the server.
func (r *Recorder) Refused(ctx context.Context, m *jsonrpc.Message, tool, outcome, reason string) {
	c := r.Start(ctx, m, "")
	if c.tool == "" { // params the proxy could not read: still one record
		c.tool, c.name = "other", tool
	}
	r.ToolCalls.Inc(c.tool, outcome, c.class())
	r.audit(c, outcome, time.Since(c.start), reason)
}

func arguments(params json.RawMessage) json.RawMessage {
	var p struct {
		Arguments json.RawMessage `json:"arguments"`
	}
	if json.Unmarshal(params, &p) != nil {
		return nil
	}
	return p.Arguments
}

// audit writes the record: who called which tool, with what (size and hash of the
// arguments; their values only when asked), how it ended, how long it took.
func (r *Recorder) audit(c *Call, outcome string, elapsed time.Duration, reason string) {
	if r.Audit == nil || r.log == nil {
		return
	}
	sum := sha256.Sum256(c.args)
	line := map[string]any{
		"ts": time.Now().UTC().Format(time.RFC3339Nano), "level": "info", "event": "audit",
		"tool": c.name, "outcome": outcome, "ms": float64(elapsed.Microseconds()) / 1000,
		"argumentsBytes": len(c.args), "argumentsSha256": hex.EncodeToString(sum[:]),
		"revision": r.Audit.Revision, "callerClass": c.class(),
	}
	if c.caller != nil && !c.caller.Anonymous {
		line["caller"] = c.caller.Subject
		if c.caller.ServiceAccount != "" {
			line["serviceAccount"] = c.caller.ServiceAccount
		}
	}
	if c.session != "" {
		line["session"] = c.session
	}
	if reason != "" {
		line["reason"] = reason
	}
	if r.Audit.IncludeArguments && len(c.args) > 0 {
		line["arguments"] = c.args
	}
	r.write(line)
}
