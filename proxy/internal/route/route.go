// Package route decides where a request carrying a session id goes: to this replica's
// server, to the replica that owns the session (its proxy), or back to the client as an
// unknown session (HTTP 404, so the client starts a new one instead of hanging).
package route

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"mcpops.dev/proxy/internal/jsonrpc"
	"mcpops.dev/proxy/internal/metrics"
	"mcpops.dev/proxy/internal/sessionid"
)

// ForwardedHeader marks a request one proxy passed to another: a proxy never forwards a
// forwarded request again (no loops, whatever the ids say).
const ForwardedHeader = "X-Mcpops-Forwarded-By"

// Kind of decision.
type Kind int

// Decisions.
const (
	Local   Kind = iota // serve here, with Upstream as the server's session id
	Forward             // pass to the proxy at Owner
	Unknown             // answer 404: not a session anyone here can serve
)

// Decision for one request.
type Decision struct {
	Kind     Kind
	Upstream string
	Owner    string
	Reason   string // for Unknown: forged, foreign, loop
}

// Decide routes a request with client-facing session id sid at the proxy self.
func Decide(codec *sessionid.Codec, self, sid string, forwarded bool) Decision {
	owner, upstream, err := codec.Parse(sid)
	switch {
	case errors.Is(err, sessionid.ErrForged):
		return Decision{Kind: Unknown, Reason: "forged"}
	case err != nil:
		return Decision{Kind: Unknown, Reason: "foreign"}
	case owner == self:
		return Decision{Kind: Local, Upstream: upstream}
	case forwarded:
		return Decision{Kind: Unknown, Reason: "loop"}
	default:
		return Decision{Kind: Forward, Owner: owner}
	}
}

// Resolve applies Decide to a request: forwarded or refused requests are answered here
// (handled=true); otherwise upstream is the session id the server knows.
func Resolve(w http.ResponseWriter, r *http.Request, codec *sessionid.Codec, self string, fwd *Forwarder, refused *metrics.Vec) (upstream string, handled bool) {
	d := Decide(codec, self, r.Header.Get("Mcp-Session-Id"), r.Header.Get(ForwardedHeader) != "")
	switch d.Kind {
	case Forward:
		fwd.ServeHTTP(w, r, d.Owner)
		return "", true
	case Unknown:
		if refused != nil {
			refused.Inc(d.Reason)
		}
		WriteUnknown(w, d.Reason)
		return "", true
	}
	return d.Upstream, false
}

// WriteUnknown answers 404 with a JSON-RPC error, as the MCP spec says for a session the
// server does not know.
func WriteUnknown(w http.ResponseWriter, why string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write(jsonrpc.ErrorResponse(nil, jsonrpc.InvalidRequest, "Session not found: "+why))
}

// Forwarder passes requests to the owning replica's proxy.
type Forwarder struct {
	Self    string // this proxy's address, sent along so the owner can log it
	Path    string
	proxy   *httputil.ReverseProxy
	Results *metrics.Vec
	MaxBody int64 // largest body forwarded (the owner's own limit applies too)

	scheme    string
	transport *http.Transport
}

// UseTLS makes forwards go over TLS (the replicas serve TLS), verified by cfg.
func (f *Forwarder) UseTLS(cfg *tls.Config) {
	f.scheme = "https"
	f.transport.TLSClientConfig = cfg
}

type ownerKey struct{}

// NewForwarder builds a forwarder; dialTimeout bounds how long an unreachable owner
// (a deleted pod) can hold a request before the client gets its 404.
func NewForwarder(self, path string, dialTimeout time.Duration, reg *metrics.Registry) *Forwarder {
	f := &Forwarder{Self: self, Path: path, scheme: "http"}
	f.Results = reg.Counter("mcpops_proxy_forwards",
		"Requests passed to the replica owning their session, by result (ok, owner_gone).", "result")
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: dialTimeout}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	f.transport = transport
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			owner := pr.In.Context().Value(ownerKey{}).(string)
			pr.Out.URL = &url.URL{Scheme: f.scheme, Host: owner, Path: f.Path, RawQuery: pr.In.URL.RawQuery}
			pr.Out.Host = pr.In.Host // the owner's server sees the client's Host, as direct
			pr.Out.Header.Set(ForwardedHeader, f.Self)
			pr.Out.Header.Del("X-Forwarded-For")
		},
		Transport:     transport,
		FlushInterval: -1, // SSE: every write goes on at once
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if errors.Is(r.Context().Err(), context.Canceled) {
				return // the client left
			}
			f.Results.Inc("owner_gone")
			WriteUnknown(w, "the replica holding it is gone")
		},
		ModifyResponse: func(*http.Response) error {
			f.Results.Inc("ok")
			return nil
		},
	}
	return f
}

// ServeHTTP forwards r to owner. The body is read first: Go's server closes an unread
// request body once the response starts, which would cut the copy to the owner short
// when the owner answers (SSE headers) before the transport saw the body's end.
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request, owner string) {
	if r.Body != nil && r.Body != http.NoBody {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, f.maxBody()))
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			_, _ = w.Write(jsonrpc.ErrorResponse(nil, jsonrpc.InvalidRequest, "request body too large or unreadable"))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
	}
	f.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ownerKey{}, owner)))
}

func (f *Forwarder) maxBody() int64 {
	if f.MaxBody > 0 {
		return f.MaxBody
	}
	return 4 << 20
}
