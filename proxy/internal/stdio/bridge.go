// Package stdio serves a stdio MCP server over Streamable HTTP.
//
// Each session gets its own child process (one client's state never leaks into
// another's). A process start takes a second or more for a Python server, so the bridge
// keeps --warm children started ahead of need and warmed with a ping (allowed before
// initialize): a new session's initialize goes to a child that is already listening. A
// separate control child answers the health checks and, when the server speaks the
// stateless 2026-07-28 revision, requests that carry no session.
package stdio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"mcpops.dev/proxy/internal/calls"
	"mcpops.dev/proxy/internal/httpproxy"
	"mcpops.dev/proxy/internal/jsonrpc"
	"mcpops.dev/proxy/internal/mcpcheck"
	"mcpops.dev/proxy/internal/metrics"
	"mcpops.dev/proxy/internal/route"
	"mcpops.dev/proxy/internal/sessionid"
	"mcpops.dev/proxy/internal/sessions"
	"mcpops.dev/proxy/internal/sse"
)

var errExited = fmt.Errorf("stdio server exited: %w", mcpcheck.ErrNotListening)

// Options configure a bridge.
type Options struct {
	Command     []string
	Warm        int
	MaxSessions int
	MaxBody     int64
	Sticky      bool
	Codec       *sessionid.Codec
	Self        string
	Registry    *sessions.Registry
	Calls       *calls.Recorder
	Forwarder   *route.Forwarder
	Draining    func() bool
	Log         io.Writer
	// Version returns the protocol revision the checks found ("" unknown).
	Version func() string
}

type bridgeMetrics struct {
	children     *metrics.Vec
	starts       *metrics.Vec
	sessionStart *metrics.HistogramVec
	dropped      *metrics.Vec
	refused      *metrics.Vec
	tooLarge     *metrics.Vec
}

// RegisterMetrics registers the bridge's metrics.
func RegisterMetrics(reg *metrics.Registry) bridgeMetrics {
	return bridgeMetrics{
		children: reg.Gauge("mcpops_proxy_stdio_children", "stdio server processes by role (warm, session, control).", "role"),
		starts:   reg.Counter("mcpops_proxy_stdio_child_starts", "stdio server processes started, by role.", "role"),
		sessionStart: reg.Histogram("mcpops_proxy_stdio_session_start_seconds",
			"Time from a new session's initialize reaching the bridge to its answer, by whether a warm child took it (warm, cold).",
			metrics.LatencyBuckets, "pool"),
		dropped:  reg.Counter("mcpops_proxy_stdio_dropped_messages", "Server messages with no request or stream to carry them."),
		refused:  httpproxy.Refusals(reg),
		tooLarge: httpproxy.TooLarge(reg),
	}
}

// Bridge is the stdio transport.
type Bridge struct {
	opt Options
	m   bridgeMetrics

	mu       sync.Mutex
	sessions map[string]*child // by client-facing id
	pool     chan *child
	control  *child
	closed   bool
	refill   chan struct{}
	stopped  chan struct{}
}

// New builds a bridge (Start launches the children).
func New(opt Options, reg *metrics.Registry) *Bridge {
	return &Bridge{
		opt: opt, m: RegisterMetrics(reg), sessions: map[string]*child{},
		pool: make(chan *child, max(opt.Warm, 1)), refill: make(chan struct{}, 1), stopped: make(chan struct{}),
	}
}

// SetVersion tells the bridge where to learn the protocol revision.
func (b *Bridge) SetVersion(f func() string) { b.opt.Version = f }

func (b *Bridge) spawn(role string) (*child, error) {
	c, err := start(b.opt.Command, func() { b.m.dropped.Inc() })
	if err != nil {
		return nil, err
	}
	b.m.starts.Inc(role)
	return c, nil
}

// Start launches the control child and fills the warm pool.
func (b *Bridge) Start() error {
	c, err := b.spawn("control")
	if err != nil {
		return fmt.Errorf("starting %v: %w", b.opt.Command, err)
	}
	b.mu.Lock()
	b.control = c
	b.mu.Unlock()
	go b.keepWarm()
	b.refill <- struct{}{}
	return nil
}

// keepWarm tops the pool up whenever a session takes a child.
func (b *Bridge) keepWarm() {
	defer close(b.stopped)
	for range b.refill {
		for len(b.pool) < b.opt.Warm {
			b.mu.Lock()
			closed := b.closed
			b.mu.Unlock()
			if closed {
				return
			}
			c, err := b.spawn("warm")
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			if !warmUp(c) {
				go c.stop()
				time.Sleep(500 * time.Millisecond) // a server that cannot start: do not spin
				continue
			}
			b.pool <- c
			b.gauges()
		}
	}
}

// warmUp waits until the child answers a ping (any answer: it is reading stdin).
func warmUp(c *child) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	body, _ := jsonrpc.Request("warm", "ping", nil)
	msgs, _, _ := jsonrpc.Parse(body)
	_, err := c.call(ctx, msgs[0])
	return err == nil
}

func (b *Bridge) gauges() {
	b.mu.Lock()
	n := len(b.sessions)
	b.mu.Unlock()
	b.m.children.Set(float64(len(b.pool)), "warm")
	b.m.children.Set(float64(n), "session")
	b.m.children.Set(1, "control")
}

// take returns a warm child, or starts one (cold) when the pool is empty.
func (b *Bridge) take() (*child, string, error) {
	for {
		select {
		case c := <-b.pool:
			select {
			case b.refill <- struct{}{}:
			default:
			}
			if c.alive() {
				return c, "warm", nil
			}
		default:
			select {
			case b.refill <- struct{}{}:
			default:
			}
			c, err := b.spawn("session")
			return c, "cold", err
		}
	}
}

// Close stops every child.
func (b *Bridge) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	all := []*child{b.control}
	for id, c := range b.sessions {
		all = append(all, c)
		delete(b.sessions, id)
	}
	close(b.refill)
	b.mu.Unlock()
	<-b.stopped
	close(b.pool)
	for c := range b.pool {
		all = append(all, c)
	}
	var wg sync.WaitGroup
	for _, c := range all {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); c.stop() }()
		}
	}
	wg.Wait()
}

// End stops a session's child (idle expiry, DELETE).
func (b *Bridge) End(id string) {
	b.mu.Lock()
	c := b.sessions[id]
	delete(b.sessions, id)
	b.mu.Unlock()
	b.opt.Registry.Close(id)
	if c != nil {
		go c.stop()
	}
	b.gauges()
}

// ServeHTTP is the MCP endpoint.
func (b *Bridge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get("Mcp-Session-Id")
	if sid != "" && b.opt.Sticky {
		if _, handled := route.Resolve(w, r, b.opt.Codec, b.opt.Self, b.opt.Forwarder, b.m.refused); handled {
			return
		}
	}
	var c *child
	if sid != "" {
		b.mu.Lock()
		c = b.sessions[sid]
		b.mu.Unlock()
		if c == nil || !c.alive() {
			if c != nil {
				b.End(sid)
			}
			b.m.refused.Inc("gone")
			route.WriteUnknown(w, "no such session on this replica")
			return
		}
		b.opt.Registry.Begin(sid)
		defer b.opt.Registry.End(sid)
	}
	switch r.Method {
	case http.MethodGet:
		b.serveStream(w, r, c)
	case http.MethodDelete:
		if c == nil {
			httpproxy.WriteError(w, http.StatusBadRequest, jsonrpc.InvalidRequest, "Bad Request: Missing session ID")
			return
		}
		b.End(sid)
		w.WriteHeader(http.StatusOK)
	case http.MethodPost:
		b.post(w, r, sid, c)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		httpproxy.WriteError(w, http.StatusMethodNotAllowed, jsonrpc.InvalidRequest, "method not allowed")
	}
}

func (b *Bridge) post(w http.ResponseWriter, r *http.Request, sid string, c *child) {
	body, ok := httpproxy.ReadBody(w, r, b.opt.MaxBody, b.m.tooLarge)
	if !ok {
		return
	}
	msgs, batch, err := jsonrpc.Parse(body)
	if err != nil {
		httpproxy.WriteError(w, http.StatusBadRequest, jsonrpc.ParseError, "Parse error: "+err.Error())
		return
	}
	started := time.Now()
	pool := ""
	if c == nil {
		switch {
		case len(msgs) == 1 && msgs[0].Method == "initialize":
			b.mu.Lock()
			full := len(b.sessions) >= b.opt.MaxSessions
			b.mu.Unlock()
			if !httpproxy.Admit(w, b.opt.Draining(), full, b.m.refused) {
				return
			}
			if c, pool, err = b.take(); err != nil {
				httpproxy.WriteError(w, http.StatusBadGateway, jsonrpc.InternalError, "cannot start the server: "+err.Error())
				return
			}
			sid = b.newID()
		case b.opt.Version != nil && b.opt.Version() == mcpcheck.Modern:
			// 2026-07-28 requests carry no session: the control child serves them.
			b.mu.Lock()
			c = b.control
			b.mu.Unlock()
		default:
			httpproxy.WriteError(w, http.StatusBadRequest, jsonrpc.InvalidRequest, "Bad Request: Missing session ID")
			return
		}
	}
	if pool == "" {
		b.exchange(w, r, c, msgs, batch, sid, false)
		return
	}
	// Registered before the answer goes out: a client sends its next request (the
	// initialized notification) the moment it reads the answer.
	b.mu.Lock()
	b.sessions[sid] = c
	b.mu.Unlock()
	b.opt.Registry.Open(sid, sid)
	if !b.exchange(w, r, c, msgs, batch, sid, true) {
		b.End(sid)
		return
	}
	b.m.sessionStart.Observe(time.Since(started).Seconds(), pool)
	b.gauges()
}

func (b *Bridge) newID() string {
	raw := sessionid.Random()
	if b.opt.Sticky {
		return b.opt.Codec.Mint(b.opt.Self, raw)
	}
	return raw
}

// exchange writes the client's messages and answers: 202 when there is nothing to wait
// for, an SSE stream when the client accepts one (server messages on the way, each
// flushed), else the JSON answer. A client that leaves cancels what it asked.
func (b *Bridge) exchange(w http.ResponseWriter, r *http.Request, c *child, msgs []jsonrpc.Message, batch bool, sid string, opening bool) bool {
	type inflight struct {
		w    *waiter
		id   string
		call *calls.Call
	}
	var waits []inflight
	for i := range msgs {
		m := msgs[i]
		if !m.IsRequest() {
			if err := c.write(mustJSON(m)); err != nil {
				httpproxy.WriteError(w, http.StatusBadGateway, jsonrpc.InternalError, err.Error())
				return false
			}
			continue
		}
		call := b.opt.Calls.Start(r.Context(), &m, sid)
		wt, id, err := c.send(m)
		if err != nil {
			call.Done(nil, http.StatusBadGateway)
			httpproxy.WriteError(w, http.StatusBadGateway, jsonrpc.InternalError, err.Error())
			return false
		}
		waits = append(waits, inflight{wt, id, call})
	}
	if len(waits) == 0 {
		w.WriteHeader(http.StatusAccepted)
		return true
	}
	if opening {
		w.Header().Set("Mcp-Session-Id", sid)
	}
	useSSE := sse.Accepts(r.Header.Get("Accept"), "text/event-stream")
	var out *sse.Writer
	if useSSE {
		out = sse.NewWriter(w)
		out.Start(http.StatusOK)
	}
	var answers [][]byte
	for i, in := range waits {
		answer, ok := b.await(r.Context(), c, in.w, in.id, out)
		if !ok {
			in.call.Done(nil, 499)
			for _, rest := range waits[i+1:] {
				c.cancel(rest.id)
				rest.call.Done(nil, 499)
			}
			if !useSSE && r.Context().Err() == nil {
				httpproxy.WriteError(w, http.StatusBadGateway, jsonrpc.InternalError, "the stdio server exited")
			}
			return false
		}
		msg, _, _ := jsonrpc.Parse(answer)
		in.call.Done(&msg[0], http.StatusOK)
		answers = append(answers, answer)
	}
	if !useSSE {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if batch {
			_, _ = w.Write([]byte("["))
			for i, a := range answers {
				if i > 0 {
					_, _ = w.Write([]byte(","))
				}
				_, _ = w.Write(a)
			}
			_, _ = w.Write([]byte("]"))
		} else {
			_, _ = w.Write(answers[0])
		}
	}
	return true
}

// await returns the answer to one request, streaming what comes before it.
func (b *Bridge) await(ctx context.Context, c *child, wt *waiter, id string, out *sse.Writer) ([]byte, bool) {
	for {
		select {
		case <-ctx.Done():
			c.cancel(id)
			return nil, false
		case msg, ok := <-wt.out:
			if !ok {
				return nil, false
			}
			m, _, err := jsonrpc.Parse(msg)
			if err == nil && m[0].IsResponse() {
				if out != nil {
					if out.Message("", msg) != nil {
						return nil, false
					}
				}
				return msg, true
			}
			if out != nil && out.Message("", msg) != nil {
				c.cancel(id)
				return nil, false
			}
		}
	}
}

// serveStream is the session's GET stream: server messages outside any request.
func (b *Bridge) serveStream(w http.ResponseWriter, r *http.Request, c *child) {
	if c == nil {
		httpproxy.WriteError(w, http.StatusMethodNotAllowed, jsonrpc.InvalidRequest, "GET needs a session")
		return
	}
	ch := make(chan []byte, 64)
	c.mu.Lock()
	if c.stream != nil {
		c.mu.Unlock()
		httpproxy.WriteError(w, http.StatusConflict, jsonrpc.InvalidRequest, "a stream is already open for this session")
		return
	}
	c.stream = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.stream = nil
		c.mu.Unlock()
	}()
	out := sse.NewWriter(w)
	out.Start(http.StatusOK)
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			return
		case msg := <-ch:
			if out.Message("", msg) != nil {
				return
			}
		}
	}
}

func mustJSON(m jsonrpc.Message) []byte {
	b, _ := json.Marshal(m)
	return b
}

// Control is the checks' way to the control child.
func (b *Bridge) Control() mcpcheck.Exchanger { return controlEx{b} }

type controlEx struct{ b *Bridge }

// Exchange sends one message to the control child, restarting it if it exited.
func (x controlEx) Exchange(ctx context.Context, _ http.Header, body []byte) (mcpcheck.Reply, error) {
	b := x.b
	b.mu.Lock()
	c := b.control
	if c != nil && !c.alive() && !b.closed {
		if nc, err := b.spawn("control"); err == nil {
			b.control, c = nc, nc
		}
		b.mu.Unlock()
		return mcpcheck.Reply{}, errExited // the checker opens a new session next time
	}
	b.mu.Unlock()
	if c == nil {
		return mcpcheck.Reply{}, errExited
	}
	msgs, _, err := jsonrpc.Parse(body)
	if err != nil {
		return mcpcheck.Reply{}, err
	}
	if !msgs[0].IsRequest() {
		return mcpcheck.Reply{Status: http.StatusAccepted}, c.write(body)
	}
	answer, err := c.call(ctx, msgs[0])
	if errors.Is(err, context.DeadlineExceeded) {
		return mcpcheck.Reply{}, err
	}
	if err != nil {
		return mcpcheck.Reply{}, err
	}
	return mcpcheck.Reply{Status: http.StatusOK, Msg: answer}, nil
}

// Close is a no-op: the control child's session lasts as long as the child.
func (controlEx) Close(context.Context, string) {}
