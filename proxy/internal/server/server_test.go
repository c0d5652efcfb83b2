package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mcpops.dev/proxy/internal/jsonrpc"
)

// upstream is a minimal Streamable HTTP server with sessions, for wiring tests; the real
// servers (SDK, npm, PyPI) are in tests/process.
type upstream struct {
	name      string
	cancelled atomic.Int32
	sessions  atomic.Int32
	gotBody   atomic.Int64
	deletes   atomic.Int32
	lastEvent atomic.Value
	release   chan struct{}
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if le := r.Header.Get("Last-Event-ID"); le != "" {
		u.lastEvent.Store(le)
	}
	if r.Method == http.MethodGet {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "id: 9\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		return
	}
	if r.Method == http.MethodDelete {
		u.deletes.Add(1)
		return
	}
	body, _ := io.ReadAll(r.Body)
	u.gotBody.Add(int64(len(body)))
	msgs, _, _ := jsonrpc.Parse(body)
	m := msgs[0]
	sid := r.Header.Get("Mcp-Session-Id")
	if m.Method == "initialize" {
		w.Header().Set("Mcp-Session-Id", u.name+"-s1")
		u.sessions.Add(1)
	} else if sid != u.name+"-s1" {
		w.WriteHeader(404)
		return
	}
	switch m.ToolName() {
	case "progress": // two events, the second only after the test saw the first
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, "id: 1\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progress\":1}}\n\n")
		w.(http.Flusher).Flush()
		<-u.release
		_, _ = io.WriteString(w, "id: 2\ndata: {\"jsonrpc\":\"2.0\",\"id\":"+string(m.ID)+",\"result\":{\"content\":[]}}\n\n")
		return
	case "hang":
		<-r.Context().Done()
		u.cancelled.Add(1)
		return
	case "whoami":
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":{"content":[{"type":"text","text":"`+u.name+`"}]}}`)
		return
	}
	if m.IsNotification() {
		w.WriteHeader(202)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":{"protocolVersion":"2025-11-25"}}`)
}

type running struct {
	url    string
	proxy  *Proxy
	cancel context.CancelFunc
	done   chan struct{}
	ln     net.Listener
}

func startProxy(t *testing.T, up *httptest.Server, extra ...string) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("MCPOPS_SESSION_KEY", "a-key-shared-by-all-replicas")
	args := append([]string{"--listen", ln.Addr().String(), "--upstream", up.URL + "/mcp", "--drain-delay", "0", "--log-calls=false"}, extra...)
	cfg, err := Parse(args, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{url: "http://" + ln.Addr().String(), proxy: p, cancel: cancel, done: make(chan struct{}), ln: ln}
	go func() { defer close(r.done); _ = p.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); ln.Close() })
	return r
}

func post(t *testing.T, url, sid, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func call(tool string) string {
	return `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
}

func newUpstream(t *testing.T, name string) (*upstream, *httptest.Server) {
	u := &upstream{name: name, release: make(chan struct{})}
	s := httptest.NewServer(u)
	t.Cleanup(func() { close(u.release); s.CloseClientConnections(); s.Close() })
	return u, s
}

func TestSessionIDsNameTheOwnerAndRouteToIt(t *testing.T) {
	_, upA := newUpstream(t, "a")
	_, upB := newUpstream(t, "b")
	a := startProxy(t, upA, "--drain-timeout", "10ms")
	b := startProxy(t, upB)
	resp := post(t, a.url, "", initialize)
	sid := resp.Header.Get("Mcp-Session-Id")
	if !strings.HasPrefix(sid, "m1.") || !strings.HasSuffix(sid, ".a-s1") {
		t.Fatalf("session id %q", sid)
	}
	if a.proxy.Info().Sessions != 1 {
		t.Fatal("the owner counts the session")
	}
	// The same session through the other replica reaches a's server.
	body, _ := io.ReadAll(post(t, b.url, sid, call("whoami")).Body)
	if !strings.Contains(string(body), `"text":"a"`) {
		t.Fatalf("served by the owner: %s", body)
	}
	// A forged id (signed with another key) is refused without reaching any server.
	forged := strings.Replace(sid, ".a-s1", ".b-s1", 1)
	if r := post(t, b.url, forged, call("whoami")); r.StatusCode != 404 {
		t.Fatalf("forged id: %d", r.StatusCode)
	}
	// The owner goes away: the other replica answers 404 at once, no hang.
	a.cancel()
	a.ln.Close()
	<-a.done
	start := time.Now()
	r := post(t, b.url, sid, call("whoami"))
	if r.StatusCode != 404 || time.Since(start) > 3*time.Second {
		t.Fatalf("owner gone: %d after %s", r.StatusCode, time.Since(start))
	}
}

func TestSSEIsStreamedNotBuffered(t *testing.T) {
	u, up := newUpstream(t, "a")
	p := startProxy(t, up)
	sid := post(t, p.url, "", initialize).Header.Get("Mcp-Session-Id")
	resp := post(t, p.url, sid, call("progress"))
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatal(resp.Header)
	}
	br := bufio.NewReader(resp.Body)
	got := make(chan string, 1)
	go func() {
		line, _ := br.ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "id: 1\n" {
			t.Fatalf("first line %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the progress event was held until the stream ends")
	}
	u.release <- struct{}{}
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), `"result"`) {
		t.Fatalf("the answer follows: %q", rest)
	}
}

func TestLastEventIDPassesThroughOnGET(t *testing.T) {
	u, up := newUpstream(t, "a")
	p := startProxy(t, up)
	sid := post(t, p.url, "", initialize).Header.Get("Mcp-Session-Id")
	req, _ := http.NewRequest(http.MethodGet, p.url+"/mcp", nil)
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "8")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	if line != "id: 9\n" || u.lastEvent.Load() != "8" {
		t.Fatalf("%q %v", line, u.lastEvent.Load())
	}
}

func TestBodyLimit(t *testing.T) {
	u, up := newUpstream(t, "a")
	p := startProxy(t, up, "--max-body", "1000")
	big := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"pad":"` + strings.Repeat("x", 2000) + `"}}`
	if r := post(t, p.url, "", big); r.StatusCode != 413 {
		t.Fatalf("%d", r.StatusCode)
	}
	if u.gotBody.Load() != 0 {
		t.Fatal("the server never sees an oversized body")
	}
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	u, up := newUpstream(t, "a")
	p := startProxy(t, up)
	sid := post(t, p.url, "", initialize).Header.Get("Mcp-Session-Id")
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/mcp", strings.NewReader(call("hang")))
	req.Header.Set("Mcp-Session-Id", sid)
	req.Header.Set("Content-Type", "application/json")
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	_, _ = http.DefaultClient.Do(req)
	deadline := time.Now().Add(5 * time.Second)
	for u.cancelled.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the upstream request outlived the client")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDrainRefusesNewSessionsServesOpenOnes(t *testing.T) {
	_, up := newUpstream(t, "a")
	p := startProxy(t, up)
	sid := post(t, p.url, "", initialize).Header.Get("Mcp-Session-Id")
	p.proxy.Drain()
	if r := post(t, p.url, "", initialize); r.StatusCode != 503 {
		t.Fatalf("new session while draining: %d", r.StatusCode)
	}
	if r := post(t, p.url, sid, call("whoami")); r.StatusCode != 200 {
		t.Fatalf("open session while draining: %d", r.StatusCode)
	}
	resp, _ := http.Get(p.url + "/readyz")
	if resp.StatusCode != 503 {
		t.Fatal("unready while draining")
	}
	var info Info
	resp, _ = http.Get(p.url + "/mcpops/info")
	_ = json.NewDecoder(resp.Body).Decode(&info)
	if !info.Draining || info.Sessions != 1 || info.Transport != "http" {
		t.Fatalf("%+v", info)
	}
}

func TestMetricsAfterCalls(t *testing.T) {
	_, up := newUpstream(t, "a")
	p := startProxy(t, up)
	sid := post(t, p.url, "", initialize).Header.Get("Mcp-Session-Id")
	_, _ = io.ReadAll(post(t, p.url, sid, call("whoami")).Body)
	resp, _ := http.Get(p.url + "/metrics")
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`mcpops_proxy_tool_calls_total{tool="whoami",outcome="ok",caller_class="anonymous"} 1`,
		`mcpops_proxy_sessions_open 1`,
		`mcpops_proxy_sessions_opened_total 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("missing %s", want)
		}
	}
}

func TestIdleSessionsEndUpstreamToo(t *testing.T) {
	u, up := newUpstream(t, "a")
	p := startProxy(t, up, "--session-idle", "200ms")
	post(t, p.url, "", initialize)
	deadline := time.Now().Add(5 * time.Second)
	for p.proxy.Info().Sessions != 0 || u.deletes.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions %d, deletes %d", p.proxy.Info().Sessions, u.deletes.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSessionsNonePassesIDsThrough(t *testing.T) {
	_, up := newUpstream(t, "a")
	p := startProxy(t, up, "--sessions", "none")
	sid := post(t, p.url, "", initialize).Header.Get("Mcp-Session-Id")
	if sid != "a-s1" {
		t.Fatalf("the server's own id: %q", sid)
	}
	body, _ := io.ReadAll(post(t, p.url, sid, call("whoami")).Body)
	if !strings.Contains(string(body), `"text":"a"`) {
		t.Fatalf("%s", body)
	}
}
