package route

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mcpops.dev/proxy/internal/metrics"
	"mcpops.dev/proxy/internal/sessionid"
)

func TestDecide(t *testing.T) {
	c, _ := sessionid.New([]byte("a-shared-key-of-enough-bytes"))
	other, _ := sessionid.New([]byte("some-other-key-entirely!"))
	mine := c.Mint("10.0.0.1:8080", "up-1")
	theirs := c.Mint("10.0.0.2:8080", "up-2")
	cases := []struct {
		sid       string
		forwarded bool
		want      Decision
	}{
		{mine, false, Decision{Kind: Local, Upstream: "up-1"}},
		{mine, true, Decision{Kind: Local, Upstream: "up-1"}},
		{theirs, false, Decision{Kind: Forward, Owner: "10.0.0.2:8080"}},
		{theirs, true, Decision{Kind: Unknown, Reason: "loop"}},
		{other.Mint("10.0.0.2:8080", "x"), false, Decision{Kind: Unknown, Reason: "forged"}},
		{"raw-upstream-id", false, Decision{Kind: Unknown, Reason: "foreign"}},
	}
	for _, tc := range cases {
		if got := Decide(c, "10.0.0.1:8080", tc.sid, tc.forwarded); got != tc.want {
			t.Errorf("%s fwd=%v: %+v want %+v", tc.sid, tc.forwarded, got, tc.want)
		}
	}
}

func TestForwardReachesOwnerAndGoneOwnerIs404(t *testing.T) {
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path+" by "+r.Header.Get(ForwardedHeader))
	}))
	defer owner.Close()
	f := NewForwarder("10.9.9.9:1", "/mcp", 300*time.Millisecond, metrics.New())
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest("POST", "/mcp", strings.NewReader("{}")), strings.TrimPrefix(owner.URL, "http://"))
	if rec.Code != 200 || rec.Body.String() != "/mcp by 10.9.9.9:1" {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	// An address nobody listens on: refused at once.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	gone := l.Addr().String()
	l.Close()
	rec = httptest.NewRecorder()
	start := time.Now()
	f.ServeHTTP(rec, httptest.NewRequest("POST", "/mcp", strings.NewReader("{}")), gone)
	if rec.Code != 404 || !strings.Contains(rec.Body.String(), "Session not found") {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("a gone owner answers quickly")
	}
	if f.Results.Value("owner_gone") != 1 || f.Results.Value("ok") != 1 {
		t.Fatal("forward results counted")
	}
}

// The owner answers with SSE headers at once; the forwarded body must still arrive whole
// and the stream come back whole, every time (Go's server closes an unread request body
// once a response starts, which once cut these copies short).
func TestForwardedBodyAndSSEArriveWhole(t *testing.T) {
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "data: "+string(body)+"\n\n")
	}))
	defer owner.Close()
	f := NewForwarder("10.9.9.9:1", "/mcp", time.Second, metrics.New())
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.ServeHTTP(w, r, strings.TrimPrefix(owner.URL, "http://"))
	}))
	defer front.Close()
	for i := 0; i < 200; i++ {
		body := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
		resp, err := http.Post(front.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(got) != "data: "+body+"\n\n" {
			t.Fatalf("round %d: %q %v", i, got, err)
		}
	}
}

func TestForwardRefusesOversizedBody(t *testing.T) {
	f := NewForwarder("10.9.9.9:1", "/mcp", time.Second, metrics.New())
	f.MaxBody = 10
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest("POST", "/mcp", strings.NewReader(strings.Repeat("x", 100))), "127.0.0.1:1")
	if rec.Code != 413 {
		t.Fatal(rec.Code)
	}
}
