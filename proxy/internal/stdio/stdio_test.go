package stdio

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"mcpops.dev/proxy/internal/calls"
	"mcpops.dev/proxy/internal/jsonrpc"
	"mcpops.dev/proxy/internal/metrics"
	"mcpops.dev/proxy/internal/sessionid"
	"mcpops.dev/proxy/internal/sessions"
)

// TestMain doubles as a tiny stdio MCP server (the real ones run in tests/process): with
// STDIO_FAKE set, the test binary answers ping, initialize and tools/call "pid", and
// prints junk between messages the way careless servers do.
func TestMain(m *testing.M) {
	if os.Getenv("STDIO_FAKE") == "1" {
		fakeServer()
		return
	}
	os.Exit(m.Run())
}

func fakeServer() {
	fmt.Println("starting up (not JSON)")
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<20)
	for in.Scan() {
		msgs, _, err := jsonrpc.Parse(in.Bytes())
		if err != nil || !msgs[0].IsRequest() {
			continue
		}
		m := msgs[0]
		var result string
		switch {
		case m.Method == "initialize":
			result = `{"protocolVersion":"2025-11-25","capabilities":{},"serverInfo":{"name":"fake","version":"1"}}`
		case m.ToolName() == "pid":
			fmt.Println(`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"working"}}`)
			result = fmt.Sprintf(`{"content":[{"type":"text","text":"%d"}]}`, os.Getpid())
		default:
			result = `{}`
		}
		fmt.Printf("{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}\n", m.ID, result)
	}
}

func newBridge(t *testing.T, warm int) (*Bridge, *httptest.Server) {
	t.Helper()
	t.Setenv("STDIO_FAKE", "1")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New()
	codec, _ := sessionid.New([]byte("a-test-key-long-enough"))
	b := New(Options{
		Command: []string{self}, Warm: warm, MaxSessions: 4, MaxBody: 1 << 20, Sticky: true, Codec: codec,
		Self: "127.0.0.1:1", Registry: sessions.New(0), Calls: calls.New(reg, io.Discard), Draining: func() bool { return false },
	}, reg)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(b)
	t.Cleanup(func() { srv.Close(); b.Close() })
	return b, srv
}

func post(t *testing.T, url, sid, body string, sse bool) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	accept := "application/json"
	if sse {
		accept += ", text/event-stream"
	}
	req.Header.Set("Accept", accept)
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

const initReq = `{"jsonrpc":"2.0","id":"init","method":"initialize","params":{}}`

func TestSessionsGetTheirOwnWarmProcess(t *testing.T) {
	b, srv := newBridge(t, 2)
	deadline := time.Now().Add(20 * time.Second)
	for len(b.pool) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("pool never warm")
		}
		time.Sleep(10 * time.Millisecond)
	}
	pids := map[string]bool{}
	for i := 0; i < 2; i++ {
		resp := post(t, srv.URL, "", initReq, false)
		sid := resp.Header.Get("Mcp-Session-Id")
		body, _ := io.ReadAll(resp.Body)
		if sid == "" || !strings.Contains(string(body), `"id":"init"`) {
			t.Fatalf("initialize: %q %s", sid, body)
		}
		// JSON answer: the client's own id back, junk and notifications not in it.
		resp = post(t, srv.URL, sid, `{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"pid"}}`, false)
		body, _ = io.ReadAll(resp.Body)
		var m jsonrpc.Message
		if err := json.Unmarshal(body, &m); err != nil || m.IDKey() != "41" {
			t.Fatalf("answer %s: %v", body, err)
		}
		pids[string(m.Result)] = true
	}
	if len(pids) != 2 {
		t.Fatal("two sessions, two processes")
	}
	if b.m.sessionStart.Count("warm") != 2 {
		t.Fatal("both sessions took warm children")
	}
}

func TestSSECarriesNotificationsBeforeTheAnswer(t *testing.T) {
	_, srv := newBridge(t, 0)
	sid := post(t, srv.URL, "", initReq, false).Header.Get("Mcp-Session-Id")
	resp := post(t, srv.URL, sid, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pid"}}`, true)
	body, _ := io.ReadAll(resp.Body)
	text := string(body)
	if resp.Header.Get("Content-Type") != "text/event-stream" ||
		strings.Index(text, "notifications/message") > strings.Index(text, `"result"`) ||
		strings.Contains(text, "data: \n") {
		t.Fatalf("%s", text)
	}
}

func TestUnknownSessionAndMissingSession(t *testing.T) {
	b, srv := newBridge(t, 0)
	if r := post(t, srv.URL, b.newID(), `{"jsonrpc":"2.0","id":1,"method":"ping"}`, false); r.StatusCode != 404 {
		t.Fatalf("unknown session: %d", r.StatusCode)
	}
	if r := post(t, srv.URL, "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, false); r.StatusCode != 400 {
		t.Fatalf("no session: %d", r.StatusCode)
	}
}

func TestControlChildIDsNeverCollide(t *testing.T) {
	b, _ := newBridge(t, 0)
	ex := b.Control()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		go func() {
			// Every caller uses id 1: the bridge renumbers on the way in and back out.
			rep, err := ex.Exchange(ctx, nil, []byte(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			if err == nil && (rep.Msg == nil || rep.Msg.IDKey() != "1") {
				err = fmt.Errorf("answer %+v", rep.Msg)
			}
			errs <- err
		}()
	}
	for i := 0; i < 10; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
