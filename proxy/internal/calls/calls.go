// Package calls records what flows through the proxy: per-method requests, per-tool
// calls, errors and latency, and one structured JSON log line per call.
package calls

import (
	"encoding/json"
	"io"
	"sync"
	"time"

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
			"tools/call requests by tool and outcome (ok, error, failed); past 200 distinct tool names the rest count as other.", "tool", "outcome"),
		ToolDuration: reg.Histogram("mcpops_proxy_tool_call_duration_seconds",
			"tools/call latency by tool.", metrics.LatencyBuckets, "tool"),
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
}

// Start begins timing a request.
func (r *Recorder) Start(m *jsonrpc.Message, session string) *Call {
	c := &Call{r: r, method: methodLabel(m.Method), session: session, start: time.Now()}
	if name := m.ToolName(); name != "" {
		c.tool = r.toolLabel(name)
	}
	return c
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
		c.r.ToolCalls.Inc(c.tool, outcome)
		c.r.ToolDuration.Observe(elapsed.Seconds(), c.tool)
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
	b, _ := json.Marshal(line)
	c.r.logMu.Lock()
	_, _ = c.r.log.Write(append(b, '\n'))
	c.r.logMu.Unlock()
}
