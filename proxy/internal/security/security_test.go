package security

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"mcpops.dev/proxy/internal/auth"
	"mcpops.dev/proxy/internal/calls"
	"mcpops.dev/proxy/internal/metrics"
)

func TestGlobIsExactBytes(t *testing.T) {
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"echo", "echo", true}, {"echo", "Echo", false}, {"echo", "\u0435cho", false}, // Cyrillic е
		{"echo", "echo\u200b", false}, {"read_*", "read_file", true}, {"read_*", "read_", true},
		{"read_*", "xread_file", false}, {"*_admin", "drop_admin", true}, {"a*b*c", "aXbYc", true},
		{"a*b*c", "acb", false}, {"*", "anything", true}, {"caf\u00e9", "cafe\u0301", false}, // NFC vs NFD
	}
	for _, c := range cases {
		if got := Glob(c.pattern, c.name); got != c.want {
			t.Errorf("Glob(%q, %q) = %v", c.pattern, c.name, got)
		}
	}
}

func TestDecodeFailsClosed(t *testing.T) {
	bad := []string{
		`{"auth":{"mode":"Bearer"}}`,
		`{"auth":{"issuers":[{"issuer":"https://x","audiences":[]}]}}`,
		`{"auth":{"mode":"Open"}}`,
		`{"tools":{"alow":["echo"]}}`, // a typo must not leave everything allowed
		`{"tools":{"rules":[{"name":"","allow":["x"]}]}}`,
		`{"tools":{"overrides":{"a":{"name":"c"},"b":{"name":"c"}}}}`,
		`{"rateLimits":{"perCaller":{"perSecond":0,"burst":1}}}`,
		`{"tools":{}} {"tools":{}}`,
		`not json`,
	}
	for _, b := range bad {
		if _, err := Decode([]byte(b)); err == nil {
			t.Errorf("accepted %s", b)
		}
	}
	s, err := Decode([]byte(`{"auth":{"issuers":[{"kind":"kubernetes","audiences":["mcp"]}]}}`))
	if err != nil || s.Auth.Mode != "Bearer" || s.Auth.Issuers[0].Issuer != "https://kubernetes.default.svc.cluster.local" {
		t.Fatalf("kubernetes defaults: %+v %v", s, err)
	}
}

func guard(t *testing.T, settings string, next http.Handler) (*Guard, *bytes.Buffer) {
	t.Helper()
	s, err := Decode([]byte(settings))
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.New()
	var log bytes.Buffer
	rec := calls.New(reg, &log)
	rec.Audit = &calls.Audit{Revision: "r1"}
	g, err := New(s, next, rec, 1<<20, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return g, &log
}

// recorder is the "server": it keeps every body it receives.
type recorder struct{ bodies []string }

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.bodies = append(rc.bodies, string(b))
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`))
}

func post(g http.Handler, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("POST", "/mcp", strings.NewReader(body))
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}

const policy = `{"tools":{"allow":["echo","read_*","old"],"deny":["read_secret"],"overrides":{"old":{"name":"new","description":"renamed"}}}}`

func TestBatchCannotSmuggleADeniedTool(t *testing.T) {
	srv := &recorder{}
	g, log := guard(t, policy, srv)
	batch := `[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}},
	           {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_secret"}},
	           {"jsonrpc":"2.0","method":"notifications/x"}]`
	w := post(g, batch)
	var answers []map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &answers); err != nil || len(answers) != 2 {
		t.Fatalf("answers %s: %v", w.Body, err)
	}
	if len(srv.bodies) != 0 {
		t.Fatalf("server received %v", srv.bodies)
	}
	if !strings.Contains(w.Body.String(), "in tools.deny") || !strings.Contains(log.String(), `"outcome":"denied"`) {
		t.Fatalf("answer %s log %s", w.Body, log)
	}
}

func TestSmugglingByKeysIsRefusedOrCanonical(t *testing.T) {
	srv := &recorder{}
	g, _ := guard(t, policy, srv)
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","Name":"read_secret"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\u0435cho"}}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"old"}}`, // renamed: old name gone
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["echo"]}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`,
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}`, // unparsable
	} {
		if w := post(g, body); !strings.Contains(w.Body.String(), `"error"`) {
			t.Errorf("%s: answered %d %s", body, w.Code, w.Body)
		}
	}
	if len(srv.bodies) != 0 {
		t.Fatalf("server received %v", srv.bodies)
	}
	// Duplicate keys: the server gets the re-encoded message, the one that was checked.
	post(g, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_secret","name":"echo"}}`)
	post(g, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"new"}}`)
	if len(srv.bodies) != 2 || strings.Count(srv.bodies[0], "name") != 1 || !strings.Contains(srv.bodies[1], `"name":"old"`) {
		t.Fatalf("server received %v", srv.bodies)
	}
}

func TestToolsListRewrittenInSSE(t *testing.T) {
	list := `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"},{"name":"read_secret"},{"name":"old","description":"x"},{"name":"rm"}]}}`
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		_, _ = w.Write([]byte("event: message\nid: 5\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\n"))
		w.(http.Flusher).Flush()
		_, _ = w.Write([]byte("event: message\r\nid: 6\r\ndata: " + list[:20]))
		_, _ = w.Write([]byte(list[20:] + "\r\n\r\n"))
	})
	g, _ := guard(t, policy, next)
	w := post(g, `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`)
	out := w.Body.String()
	if !strings.Contains(out, "id: 6\n") || !strings.Contains(out, "notifications/progress") {
		t.Fatalf("stream %q", out)
	}
	if strings.Contains(out, "read_secret") || strings.Contains(out, `"rm"`) || !strings.Contains(out, `"name":"new"`) || !strings.Contains(out, `"description":"renamed"`) {
		t.Fatalf("tools not rewritten: %q", out)
	}
}

func TestRewrittenSSEWithContentLengthArrivesWhole(t *testing.T) {
	list := `{"jsonrpc":"2.0","id":7,"result":{"tools":[{"name":"echo"},{"name":"read_secret","description":"` + strings.Repeat("x", 4000) + `"}]}}`
	body := "event: message\ndata: " + list + "\n\n"
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(200)
		_, _ = w.Write([]byte(body))
	})
	g, _ := guard(t, policy, next)
	srv := httptest.NewServer(g)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":7,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil || strings.Contains(string(out), "read_secret") || !strings.Contains(string(out), `"echo"`) {
		t.Fatalf("read %q: %v", out, err)
	}
}

func TestRulesPerCaller(t *testing.T) {
	s, _ := Decode([]byte(`{"tools":{"rules":[
		{"name":"ops","match":{"groups":["ops"]},"allow":["*"]},
		{"name":"agents","match":{"serviceAccounts":["team-a/*"]},"allow":["echo"]}]}}`))
	p := NewPolicy(s.Tools)
	ops := &auth.Caller{Subject: "bob", Groups: []string{"ops"}}
	agent := &auth.Caller{Subject: "system:serviceaccount:team-a:x", ServiceAccount: "team-a/x"}
	stranger := &auth.Caller{Subject: "eve", ServiceAccount: "team-b/x"}
	checks := []struct {
		c    *auth.Caller
		tool string
		want bool
	}{{ops, "rm", true}, {agent, "echo", true}, {agent, "rm", false}, {stranger, "echo", false}, {&auth.Caller{Anonymous: true}, "echo", false}}
	for _, c := range checks {
		if ok, why := p.Allowed(c.c, Call{Tool: c.tool}); ok != c.want {
			t.Errorf("%s calling %s: %v (%s)", c.c.Subject, c.tool, ok, why)
		}
	}
	if p.Class(agent) != "agents" || p.Class(stranger) != "authenticated" {
		t.Fatal("classes")
	}
}

func TestLimiterTripsAndRecovers(t *testing.T) {
	clock := time.Unix(0, 0)
	l := NewLimiter(Bucket{PerSecond: 2, Burst: 3}, func() time.Time { return clock })
	for range 3 {
		if ok, _ := l.Take("a"); !ok {
			t.Fatal("burst")
		}
	}
	ok, wait := l.Take("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("4th: %v %v", ok, wait)
	}
	if ok, _ := l.Take("b"); !ok {
		t.Fatal("another key has its own bucket")
	}
	clock = clock.Add(500 * time.Millisecond)
	if ok, _ := l.Take("a"); !ok {
		t.Fatal("recovered")
	}
}
