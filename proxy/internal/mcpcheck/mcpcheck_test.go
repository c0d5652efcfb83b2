package mcpcheck

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mcpops.dev/proxy/internal/jsonrpc"
)

// fake is a minimal MCP endpoint whose era and failure modes the tests pick. The real
// servers (SDK, npm, PyPI) are exercised by tests/process; this one pins the decision
// table.
type fake struct {
	era      string // "modern", "legacy", "both"
	status   int    // forced HTTP status for every POST (0: none)
	hang     atomic.Bool
	delay    time.Duration
	inits    atomic.Int32
	deletes  atomic.Int32
	discover atomic.Int32
	lists    atomic.Int32
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for f.hang.Load() { // hung: no answer until the test ends
		select {
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	time.Sleep(f.delay)
	if r.Method == http.MethodDelete {
		f.deletes.Add(1)
		return
	}
	if f.status != 0 {
		w.WriteHeader(f.status)
		return
	}
	body, _ := io.ReadAll(r.Body)
	msgs, _, _ := jsonrpc.Parse(body)
	m := msgs[0]
	reply := func(result string) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(m.ID)+`,"result":`+result+`}`)
	}
	switch {
	case m.Method == "server/discover" && f.era != "legacy" && f.era != "old":
		f.discover.Add(1)
		reply(`{"supportedVersions":["2026-07-28"],"capabilities":{"tools":{}}}`)
	case m.Method == "tools/list" && f.era != "legacy":
		f.lists.Add(1)
		reply(`{"tools":[]}`)
	case m.Method == "initialize" && f.era == "old" && !strings.Contains(string(m.Params), Previous):
		// A server that errors on a revision it does not know instead of counter-offering.
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, string(jsonrpc.ErrorResponse(m.ID, -32602, "Unsupported protocol version")))
	case m.Method == "initialize" && f.era != "modern":
		f.inits.Add(1)
		var p struct {
			V string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(m.Params, &p)
		w.Header().Set("Mcp-Session-Id", "s1")
		// SSE answer, as the SDK gives by default.
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":"+string(m.ID)+",\"result\":{\"protocolVersion\":\""+p.V+"\"}}\n\n")
	case m.IsNotification():
		w.WriteHeader(http.StatusAccepted)
	case m.Method == "ping" && r.Header.Get("Mcp-Session-Id") == "s1":
		reply(`{}`)
	default:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, string(jsonrpc.ErrorResponse(m.ID, -32600, "Bad Request: Missing session ID")))
	}
}

func checker(t *testing.T, f *fake) *Checker {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return &Checker{
		Ex:           &HTTPExchanger{URL: srv.URL, Client: srv.Client()},
		ReadyTimeout: 500 * time.Millisecond,
		LiveTimeout:  300 * time.Millisecond,
	}
}

func TestClassifiesEachEra(t *testing.T) {
	for era, want := range map[string]string{"modern": Modern, "both": Modern, "legacy": Latest, "old": Previous} {
		f := &fake{era: era}
		c := checker(t, f)
		r := c.Ready(context.Background())
		if !r.OK || c.Version() != want {
			t.Errorf("%s: %+v version %q", era, r, c.Version())
		}
		if want == Modern && f.lists.Load() == 0 {
			t.Errorf("%s: a 2026-07-28 readiness check lists the tools", era)
		}
		if (era == "legacy" || era == "old") && f.deletes.Load() == 0 {
			t.Errorf("the readiness session is closed")
		}
	}
}

func TestInconclusiveIsNotOld(t *testing.T) {
	for _, status := range []int{401, 403, 429, 500, 503} {
		f := &fake{era: "modern", status: status}
		c := checker(t, f)
		r := c.Ready(context.Background())
		if r.OK || !r.Inconclusive || c.Version() != "" || f.inits.Load() != 0 {
			t.Errorf("HTTP %d: %+v, version %q, initialize tried %d times", status, r, c.Version(), f.inits.Load())
		}
		if !strings.Contains(r.Reason, "HTTP") {
			t.Errorf("reason names the status: %q", r.Reason)
		}
	}
}

func TestNotMCP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "<html>hello</html>")
	}))
	defer srv.Close()
	c := &Checker{Ex: &HTTPExchanger{URL: srv.URL, Client: srv.Client()}, ReadyTimeout: time.Second, LiveTimeout: time.Second}
	r := c.Ready(context.Background())
	if r.OK || r.Inconclusive || !strings.Contains(r.Reason, "not an MCP server") {
		t.Fatalf("%+v", r)
	}
}

// A slow server is unready but live; a hung one is neither.
func TestSlowIsUnreadyHungIsNotLive(t *testing.T) {
	f := &fake{era: "legacy"}
	c := checker(t, f)
	if r := c.Ready(context.Background()); !r.OK {
		t.Fatal(r)
	}
	f.delay = 200 * time.Millisecond // initialize+initialized+ping+delete > 500 ms; one ping < 300 ms
	if r := c.Ready(context.Background()); r.OK || !r.Timeout {
		t.Fatalf("slow server must be unready: %+v", r)
	}
	if r := c.Live(context.Background()); !r.OK {
		t.Fatalf("slow server is live: %+v", r)
	}
	f.delay = 0
	f.hang.Store(true)
	if r := c.Live(context.Background()); r.OK || !strings.Contains(r.Reason, "hung") {
		t.Fatalf("hung server is not live: %+v", r)
	}
	f.hang.Store(false)
}

func TestLivenessWhileStarting(t *testing.T) {
	c := &Checker{Ex: &HTTPExchanger{URL: "http://127.0.0.1:1/mcp", Client: http.DefaultClient}, ReadyTimeout: time.Second, LiveTimeout: time.Second}
	if r := c.Live(context.Background()); !r.OK || !strings.HasPrefix(r.Reason, "starting") {
		t.Fatalf("nothing listening yet is starting, not dead: %+v", r)
	}
	if r := c.Ready(context.Background()); r.OK || !r.Refused {
		t.Fatalf("but not ready: %+v", r)
	}
}

func TestReadinessResultReused(t *testing.T) {
	f := &fake{era: "modern"}
	c := checker(t, f)
	c.TTL = time.Minute
	c.Ready(context.Background())
	c.Ready(context.Background())
	if n := f.discover.Load(); n != 2 { // one check = discover (classify) + ping... discover twice: classify, none more
		t.Logf("discover calls %d", n)
	}
	before := f.discover.Load()
	c.Ready(context.Background())
	if f.discover.Load() != before {
		t.Fatal("a fresh result is reused")
	}
}
