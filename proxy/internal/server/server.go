// Package server assembles the proxy: the MCP path (HTTP reverse proxy or stdio bridge),
// /readyz and /livez (MCP checks), /metrics, /mcpops/info, and the drain on SIGTERM.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync/atomic"
	"time"

	"mcpops.dev/proxy/internal/calls"
	"mcpops.dev/proxy/internal/httpproxy"
	"mcpops.dev/proxy/internal/mcpcheck"
	"mcpops.dev/proxy/internal/metrics"
	"mcpops.dev/proxy/internal/route"
	"mcpops.dev/proxy/internal/security"
	"mcpops.dev/proxy/internal/sessionid"
	"mcpops.dev/proxy/internal/sessions"
	"mcpops.dev/proxy/internal/stdio"
)

// Info is the /mcpops/info document the operator reads (drain step, status).
type Info struct {
	ProtocolVersion string `json:"protocolVersion"` // "" until classified
	Sessions        int    `json:"sessions"`        // open sessions this replica owns
	Revision        string `json:"revision"`        // env MCPOPS_REVISION
	Transport       string `json:"transport"`       // http | stdio
	SessionMode     string `json:"sessionMode"`     // sticky | none
	Draining        bool   `json:"draining"`
	Ready           bool   `json:"ready"`
	Owner           string `json:"owner"` // the address session ids name
}

// Proxy is a running proxy.
type Proxy struct {
	cfg      Config
	reg      *metrics.Registry
	checker  *mcpcheck.Checker
	registry *sessions.Registry
	mcp      http.Handler
	guard    *security.Guard
	certs    *security.Certs // nil: plain HTTP
	bridge   *stdio.Bridge
	upstream *url.URL
	client   *http.Client
	draining atomic.Bool
	lastOK   atomic.Bool
	log      io.Writer

	checks   *metrics.Vec
	ready    *metrics.Vec
	open     *metrics.Vec
	drainG   *metrics.Vec
	protocol *metrics.Vec
}

// Metrics registers every metric the proxy exports (both transports), for the
// reference docs.
func Metrics() *metrics.Registry {
	reg := metrics.New()
	p := &Proxy{reg: reg}
	p.register()
	calls.New(reg, nil)
	(&httpproxy.Proxy{}).Metrics(reg)
	route.NewForwarder("", "/", time.Second, reg)
	stdio.RegisterMetrics(reg)
	(&security.Guard{}).Metrics(reg)
	p.jwksMetric()
	p.tlsMetric()
	return reg
}

func (p *Proxy) register() {
	p.checks = p.reg.Counter("mcpops_proxy_checks", "MCP checks run, by check (ready, live) and result (ok, fail).", "check", "result")
	p.ready = p.reg.Gauge("mcpops_proxy_ready", "1 while the last readiness check passed.")
	p.open = p.reg.Gauge("mcpops_proxy_sessions_open", "Sessions open on this replica.")
	p.drainG = p.reg.Gauge("mcpops_proxy_draining", "1 after SIGTERM: no new sessions, open ones still served.")
	p.protocol = p.reg.Gauge("mcpops_proxy_protocol_info", "1 for the protocol revision the server was classified as.", "version")
}

func (p *Proxy) tlsMetric() func(bool) {
	return p.results("mcpops_proxy_tls_reloads", "Reloads of the TLS certificate/key pair after the files changed, by result (ok, fail: the previous pair stays).")
}

func (p *Proxy) jwksMetric() func(bool) {
	return p.results("mcpops_proxy_jwks_fetches", "Fetches of the token issuers' keys (discovery + JWKS), by result (ok, fail).")
}

// results registers a counter by result (ok, fail) and returns its recorder.
func (p *Proxy) results(name, help string) func(bool) {
	c := p.reg.Counter(name, help, "result")
	return func(ok bool) {
		if ok {
			c.Inc("ok")
		} else {
			c.Inc("fail")
		}
	}
}

// New builds a proxy from its configuration.
func New(cfg Config, log io.Writer) (*Proxy, error) {
	p := &Proxy{cfg: cfg, reg: metrics.New(), log: log, registry: sessions.New(cfg.SessionIdle)}
	p.register()
	key, random, err := sessionid.LoadKey(cfg.SessionKeyFile, "MCPOPS_SESSION_KEY")
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	if random && cfg.Sessions == "sticky" {
		p.event("warn", "no session key configured: ids only verify on this replica", nil)
	}
	codec, err := sessionid.New(key)
	if err != nil {
		return nil, err
	}
	var settings *security.Settings
	if cfg.SecurityFile != "" {
		// Fail closed: a file that does not load stops the proxy rather than serving open.
		if settings, err = security.Load(cfg.SecurityFile); err != nil {
			return nil, err
		}
	}
	rec := calls.New(p.reg, log)
	rec.LogCalls = cfg.LogCalls
	if settings != nil && settings.AuditOn() {
		rec.Audit = &calls.Audit{Revision: os.Getenv("MCPOPS_REVISION"), IncludeArguments: settings.Audit != nil && settings.Audit.IncludeArguments}
	}
	fwd := route.NewForwarder(cfg.Advertise, cfg.Path, cfg.ForwardTimeout, p.reg)
	fwd.MaxBody = cfg.MaxBody
	if settings != nil && settings.TLS != nil {
		if p.certs, err = security.LoadCerts(settings.TLS); err != nil {
			return nil, err
		}
		p.certs.OnReload = p.tlsMetric()
		fwd.UseTLS(p.certs.PeerConfig())
	}
	p.checker = &mcpcheck.Checker{ReadyTimeout: cfg.ReadyTimeout, LiveTimeout: cfg.LiveTimeout, TTL: cfg.CheckTTL}
	if cfg.Transport == "stdio" {
		p.bridge = stdio.New(stdio.Options{
			Command: cfg.Command, Warm: cfg.Warm, MaxSessions: cfg.MaxSessions, MaxBody: cfg.MaxBody,
			Sticky: cfg.Sessions == "sticky", Codec: codec, Self: cfg.Advertise, Registry: p.registry,
			Calls: rec, Forwarder: fwd, Draining: p.draining.Load, Log: log,
		}, p.reg)
		p.mcp = p.bridge
		p.checker.Ex = p.bridge.Control()
		p.checker.Persistent = true
		p.bridge.SetVersion(p.checker.Version)
		return p, p.secure(settings, rec, codec)
	}
	p.upstream, _ = url.Parse(cfg.Upstream)
	p.client = &http.Client{Transport: httpproxy.NewTransport()}
	hp := &httpproxy.Proxy{
		Upstream: p.upstream, Client: p.client, MaxBody: cfg.MaxBody, Sticky: cfg.Sessions == "sticky",
		Codec: codec, Self: cfg.Advertise, Registry: p.registry, Calls: rec, Forwarder: fwd,
		Draining: p.draining.Load, MaxSessions: cfg.MaxSessions,
	}
	hp.Metrics(p.reg)
	if settings != nil && settings.Auth != nil && settings.Auth.Mode == "Bearer" {
		hp.DropHeaders = []string{"Authorization"}
	}
	p.mcp = hp
	p.checker.Ex = &mcpcheck.HTTPExchanger{URL: cfg.Upstream, Client: p.client}
	return p, p.secure(settings, rec, codec)
}

// secure puts the guard (auth, tool policy, rate limits) in front of the MCP path.
func (p *Proxy) secure(s *security.Settings, rec *calls.Recorder, codec *sessionid.Codec) error {
	if s == nil {
		return nil
	}
	g, err := security.New(s, p.mcp, rec, p.cfg.MaxBody, p.reg, p.jwksMetric())
	if err != nil {
		return err
	}
	if p.cfg.Sessions == "sticky" {
		g.Remote = func(r *http.Request) bool {
			sid := r.Header.Get("Mcp-Session-Id")
			return sid != "" && route.Decide(codec, p.cfg.Advertise, sid, r.Header.Get(route.ForwardedHeader) != "").Kind == route.Forward
		}
	}
	p.guard, p.mcp = g, g
	p.event("info", "security settings loaded", map[string]any{
		"file": p.cfg.SecurityFile, "auth": g.Auth != nil, "toolPolicy": g.Policy.Active(), "audit": rec.Audit != nil,
	})
	return nil
}

func (p *Proxy) event(level, msg string, fields map[string]any) {
	line := map[string]any{"ts": time.Now().UTC().Format(time.RFC3339Nano), "level": level, "event": msg}
	for k, v := range fields {
		line[k] = v
	}
	b, _ := json.Marshal(line)
	_, _ = p.log.Write(append(b, '\n'))
}

// Handler serves every path.
func (p *Proxy) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(p.cfg.Path, p.mcp)
	mux.HandleFunc("GET /readyz", p.readyz)
	mux.HandleFunc("GET /livez", p.livez)
	mux.HandleFunc("GET /metrics", p.metrics)
	mux.HandleFunc("GET /mcpops/info", p.info)
	if p.guard != nil {
		// RFC 9728: at the root, and with the MCP path appended (clients try both).
		mux.HandleFunc("GET "+security.MetadataPath, p.guard.Metadata(p.cfg.Path))
		mux.HandleFunc("GET "+security.MetadataPath+p.cfg.Path, p.guard.Metadata(p.cfg.Path))
	}
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (p *Proxy) readyz(w http.ResponseWriter, r *http.Request) {
	if p.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "draining"})
		return
	}
	res := p.checker.Ready(r.Context())
	p.record("ready", res)
	if res.OK != p.lastOK.Swap(res.OK) {
		p.event("info", "readiness changed", map[string]any{"ready": res.OK, "reason": res.Reason, "protocolVersion": res.Version})
	}
	status := http.StatusOK
	if !res.OK {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{
		"ready": res.OK, "reason": res.Reason, "protocolVersion": p.checker.Version(),
		"latencyMs": float64(res.Latency.Microseconds()) / 1000,
	})
}

func (p *Proxy) livez(w http.ResponseWriter, r *http.Request) {
	res := p.checker.Live(r.Context())
	p.record("live", res)
	status := http.StatusOK
	if !res.OK {
		status = http.StatusServiceUnavailable
		p.event("warn", "liveness failed", map[string]any{"reason": res.Reason})
	}
	writeJSON(w, status, map[string]any{"live": res.OK, "reason": res.Reason, "latencyMs": float64(res.Latency.Microseconds()) / 1000})
}

func (p *Proxy) record(check string, res mcpcheck.Result) {
	result := "ok"
	if !res.OK {
		result = "fail"
	}
	p.checks.Inc(check, result)
	if check == "ready" {
		v := 0.0
		if res.OK {
			v = 1
		}
		p.ready.Set(v)
	}
	if ver := p.checker.Version(); ver != "" {
		p.protocol.Set(1, ver)
	}
}

func (p *Proxy) metrics(w http.ResponseWriter, _ *http.Request) {
	p.open.Set(float64(p.registry.Count()))
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	p.reg.WriteText(w)
}

// Info is what /mcpops/info answers.
func (p *Proxy) Info() Info {
	return Info{
		ProtocolVersion: p.checker.Version(), Sessions: p.registry.Count(), Revision: os.Getenv("MCPOPS_REVISION"),
		Transport: p.cfg.Transport, SessionMode: p.cfg.Sessions, Draining: p.draining.Load(),
		Ready: p.lastOK.Load(), Owner: p.cfg.Advertise,
	}
}

func (p *Proxy) info(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, p.Info()) }

// Drain stops new sessions; readiness fails from now on.
func (p *Proxy) Drain() {
	if !p.draining.Swap(true) {
		p.drainG.Set(1)
		p.event("info", "draining", map[string]any{"sessions": p.registry.Count()})
	}
}

// MaxHeaderBytes bounds a request's headers (431 beyond): tokens are a few KiB.
const MaxHeaderBytes = 64 << 10

// Serve runs until ctx ends (SIGTERM), then drains: at least DrainDelay, then until no
// session is open or DrainTimeout passes.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: p.Handler(), ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: MaxHeaderBytes}
	if p.bridge != nil {
		if err := p.bridge.Start(); err != nil {
			return err
		}
		defer p.bridge.Close()
	}
	go p.sweep(ctx)
	if p.certs != nil {
		ln = tls.NewListener(ln, p.certs.ServerConfig())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	p.event("info", "serving", map[string]any{"listen": ln.Addr().String(), "transport": p.cfg.Transport,
		"upstream": p.cfg.Upstream, "sessions": p.cfg.Sessions, "owner": p.cfg.Advertise, "tls": p.certs != nil})
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	p.Drain()
	p.waitDrained()
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutdown)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close() // streams still open past the drain: end them
	}
	p.event("info", "stopped", map[string]any{"sessions": p.registry.Count()})
	return err
}

func (p *Proxy) waitDrained() {
	start := time.Now()
	time.Sleep(p.cfg.DrainDelay)
	for p.registry.Count() > 0 {
		if p.cfg.DrainTimeout > 0 && time.Since(start) >= p.cfg.DrainTimeout {
			p.event("info", "drain timeout: closing open sessions", map[string]any{"sessions": p.registry.Count()})
			return
		}
		time.Sleep(200 * time.Millisecond)
		p.endExpired()
	}
}

// sweep ends idle sessions, upstream too so the server frees them.
func (p *Proxy) sweep(ctx context.Context) {
	every := p.cfg.SessionIdle / 4
	if every <= 0 || every > 10*time.Second {
		every = 10 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.endExpired()
		}
	}
}

func (p *Proxy) endExpired() {
	for id, upstream := range p.registry.Expired() {
		p.event("info", "session idle: ended", map[string]any{"session": id})
		if p.bridge != nil {
			p.bridge.End(id)
			continue
		}
		p.checker.Ex.Close(context.Background(), upstream)
	}
}
