// Package httpproxy is the reverse proxy in front of a Streamable HTTP MCP server.
//
// What it must not break: SSE answers and GET streams go on event by event (never
// buffered), Last-Event-ID and every other end-to-end header pass through, a client
// that disconnects cancels the upstream request, bodies over the limit are refused with
// 413 before the server sees them. What it adds: session ids that name their owner (see
// sessionid, route), per-method and per-tool metrics, and refusing new sessions while
// draining.
package httpproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"mcpops.dev/proxy/internal/calls"
	"mcpops.dev/proxy/internal/jsonrpc"
	"mcpops.dev/proxy/internal/metrics"
	"mcpops.dev/proxy/internal/route"
	"mcpops.dev/proxy/internal/sessionid"
	"mcpops.dev/proxy/internal/sessions"
	"mcpops.dev/proxy/internal/sse"
)

// Proxy serves the MCP path.
type Proxy struct {
	Upstream    *url.URL
	Client      *http.Client
	MaxBody     int64
	Sticky      bool
	Codec       *sessionid.Codec
	Self        string // host:port other replicas reach this proxy at
	Registry    *sessions.Registry
	Calls       *calls.Recorder
	Forwarder   *route.Forwarder
	Draining    func() bool
	MaxSessions int
	// DropHeaders are not passed to the server (Authorization once the proxy checked it:
	// a token meant for the proxy's audience is not the server's to reuse).
	DropHeaders []string

	opened   *metrics.Vec
	refused  *metrics.Vec
	tooLarge *metrics.Vec
}

// Metrics registers the proxy's session metrics.
func (p *Proxy) Metrics(reg *metrics.Registry) {
	p.opened = reg.Counter("mcpops_proxy_sessions_opened", "Sessions opened through this replica.")
	p.refused = Refusals(reg)
	p.tooLarge = TooLarge(reg)
}

// TooLarge registers the 413 counter.
func TooLarge(reg *metrics.Registry) *metrics.Vec {
	return reg.Counter("mcpops_proxy_body_too_large", "Request bodies refused with 413.")
}

// Refusals registers the counter of requests refused before reaching a server.
func Refusals(reg *metrics.Registry) *metrics.Vec {
	return reg.Counter("mcpops_proxy_session_refusals",
		"Requests answered 404 or 503 without reaching a server, by reason (forged, foreign, loop: ids no replica can serve; gone: a stdio session that ended; draining, full: new sessions refused).", "reason")
}

// Admit refuses a new session while draining or full (503: the Service tries another
// replica, the client retries); it reports whether the session may open.
func Admit(w http.ResponseWriter, draining bool, full bool, refused *metrics.Vec) bool {
	reason := ""
	switch {
	case draining:
		reason = "draining"
	case full:
		reason = "full"
	}
	if reason == "" {
		return true
	}
	if refused != nil {
		refused.Inc(reason)
	}
	w.Header().Set("Retry-After", "1")
	WriteError(w, http.StatusServiceUnavailable, jsonrpc.InternalError, "not accepting new sessions: "+reason)
	return false
}

// NewTransport is the upstream transport: kept-alive connections, nothing transformed.
func NewTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
	}
}

// Hop-by-hop headers (RFC 9110 7.6.1) are not passed on.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func copyHeader(dst, src http.Header) {
	for k, v := range src {
		dst[k] = append([]string(nil), v...)
	}
	for _, h := range hopHeaders {
		dst.Del(h)
	}
}

// WriteError answers with a JSON-RPC error body.
func WriteError(w http.ResponseWriter, status int, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(jsonrpc.ErrorResponse(nil, code, msg))
}

func isInitialize(msgs []jsonrpc.Message) bool {
	for i := range msgs {
		if msgs[i].Method == "initialize" {
			return true
		}
	}
	return false
}

// ServeHTTP handles GET, POST and DELETE on the MCP path.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		WriteError(w, http.StatusMethodNotAllowed, jsonrpc.InvalidRequest, "method not allowed")
		return
	}
	clientSID := r.Header.Get("Mcp-Session-Id")
	upstreamSID := clientSID
	if p.Sticky && clientSID != "" {
		var handled bool
		if upstreamSID, handled = route.Resolve(w, r, p.Codec, p.Self, p.Forwarder, p.refused); handled {
			return
		}
		if p.Registry.Begin(clientSID) {
			defer p.Registry.End(clientSID)
		}
	}
	var body []byte
	var msgs []jsonrpc.Message
	if r.Method == http.MethodPost {
		var ok bool
		if body, ok = ReadBody(w, r, p.MaxBody, p.tooLarge); !ok {
			return
		}
		msgs, _, _ = jsonrpc.Parse(body) // unparsable bodies go on: the server answers them
		if clientSID == "" && isInitialize(msgs) && !p.admit(w) {
			return
		}
	}
	p.forward(w, r, body, msgs, clientSID, upstreamSID)
}

// ReadBody reads a POST body up to max bytes; over it, the client gets 413 and ok=false.
func ReadBody(w http.ResponseWriter, r *http.Request, max int64, tooLarge *metrics.Vec) (body []byte, ok bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err == nil {
		return body, true
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		if tooLarge != nil {
			tooLarge.Inc()
		}
		WriteError(w, http.StatusRequestEntityTooLarge, jsonrpc.InvalidRequest,
			"request body over the limit of "+itoa(max)+" bytes")
	}
	return nil, false // or the client left while sending
}

func (p *Proxy) admit(w http.ResponseWriter) bool {
	draining := p.Draining != nil && p.Draining()
	full := p.Sticky && p.MaxSessions > 0 && p.Registry.Count() >= p.MaxSessions
	return Admit(w, draining, full, p.refused)
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, body []byte, msgs []jsonrpc.Message, clientSID, upstreamSID string) {
	// The upstream request lives as long as the client's: a disconnect cancels it.
	out, err := http.NewRequestWithContext(r.Context(), r.Method, p.Upstream.String(), bytes.NewReader(body))
	if err != nil {
		WriteError(w, http.StatusInternalServerError, jsonrpc.InternalError, err.Error())
		return
	}
	if body == nil {
		out.Body = http.NoBody
	}
	// The client's Host goes on: a server's own DNS-rebinding or virtual-host checks see
	// what they would see without the proxy.
	out.Host = r.Host
	copyHeader(out.Header, r.Header)
	out.Header.Del(route.ForwardedHeader)
	for _, h := range p.DropHeaders {
		out.Header.Del(h)
	}
	out.Header.Del("Content-Length")
	if upstreamSID != "" {
		out.Header.Set("Mcp-Session-Id", upstreamSID)
	}
	pending := map[string]*calls.Call{}
	for i := range msgs {
		if msgs[i].IsRequest() {
			pending[msgs[i].IDKey()] = p.Calls.Start(r.Context(), &msgs[i], clientSID)
		}
	}
	resp, err := p.Client.Do(out)
	if err != nil {
		finish(pending, http.StatusBadGateway)
		if r.Context().Err() != nil {
			return // the client left; nothing to answer
		}
		WriteError(w, http.StatusBadGateway, jsonrpc.InternalError, "MCP server unreachable: "+err.Error())
		return
	}
	defer resp.Body.Close()
	copyHeader(w.Header(), resp.Header)
	p.sessionHeader(w, r, resp, clientSID)
	w.WriteHeader(resp.StatusCode)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		streamSSE(w, resp.Body, pending)
	} else {
		copyBody(w, resp.Body, pending)
	}
	finish(pending, resp.StatusCode)
}

// sessionHeader swaps the server's session id for one naming this replica, and keeps
// the registry in step with what the server says.
func (p *Proxy) sessionHeader(w http.ResponseWriter, r *http.Request, resp *http.Response, clientSID string) {
	if !p.Sticky {
		return
	}
	if up := resp.Header.Get("Mcp-Session-Id"); up != "" {
		id := p.Codec.Mint(p.Self, up)
		w.Header().Set("Mcp-Session-Id", id)
		if clientSID == "" && resp.StatusCode < 300 {
			p.Registry.Open(id, up)
			if p.opened != nil {
				p.opened.Inc()
			}
		}
	}
	if clientSID != "" && (resp.StatusCode == http.StatusNotFound ||
		r.Method == http.MethodDelete && resp.StatusCode < 300) {
		p.Registry.Close(clientSID)
	}
}

func finish(pending map[string]*calls.Call, status int) {
	for id, c := range pending {
		c.Done(nil, status)
		delete(pending, id)
	}
}

func answer(pending map[string]*calls.Call, data []byte, status int) {
	if len(pending) == 0 {
		return
	}
	msgs, _, err := jsonrpc.Parse(data)
	if err != nil {
		return
	}
	for i := range msgs {
		if !msgs[i].IsResponse() {
			continue
		}
		if c := pending[msgs[i].IDKey()]; c != nil {
			c.Done(&msgs[i], status)
			delete(pending, msgs[i].IDKey())
		}
	}
}

const maxJSONAnswer = 64 << 20

func copyBody(w http.ResponseWriter, body io.Reader, pending map[string]*calls.Call) {
	if len(pending) == 0 {
		buf := make([]byte, 32<<10)
		_, _ = io.CopyBuffer(flushWriter{w}, body, buf)
		return
	}
	data, err := io.ReadAll(io.LimitReader(body, maxJSONAnswer))
	if err != nil {
		return
	}
	_, _ = w.Write(data)
	answer(pending, data, http.StatusOK)
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// streamSSE passes each event on as soon as it is complete.
func streamSSE(w http.ResponseWriter, body io.Reader, pending map[string]*calls.Call) {
	out := sse.NewWriter(w)
	out.Flush() // headers now: the client sees the stream open
	rd := sse.NewReader(body)
	for {
		ev, err := rd.Next()
		if err != nil {
			return
		}
		if err := out.Raw(ev.Raw); err != nil {
			return // the client left: returning closes the upstream body
		}
		if ev.Data != "" {
			answer(pending, []byte(ev.Data), http.StatusOK)
		}
	}
}
