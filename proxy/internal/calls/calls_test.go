package calls

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"mcpops.dev/proxy/internal/jsonrpc"
	"mcpops.dev/proxy/internal/metrics"
)

func msg(t *testing.T, s string) *jsonrpc.Message {
	t.Helper()
	m, _, err := jsonrpc.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return &m[0]
}

func TestToolOutcomesAndLog(t *testing.T) {
	var log bytes.Buffer
	r := New(metrics.New(), &log)
	call := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`
	r.Start(context.Background(), msg(t, call), "s1").Done(msg(t, `{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`), 200)
	r.Start(context.Background(), msg(t, call), "s1").Done(msg(t, `{"jsonrpc":"2.0","id":1,"result":{"isError":true}}`), 200)
	r.Start(context.Background(), msg(t, call), "s1").Done(nil, 502)
	r.Start(context.Background(), msg(t, `{"jsonrpc":"2.0","id":2,"method":"x/custom"}`), "").Done(msg(t, `{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"nope"}}`), 200)
	for outcome, want := range map[string]float64{"ok": 1, "error": 1, "failed": 1} {
		if got := r.ToolCalls.Value("echo", outcome, "anonymous"); got != want {
			t.Errorf("echo %s = %v", outcome, got)
		}
	}
	if r.ToolDuration.Count("echo", "anonymous") != 3 || r.Requests.Value("other", "error") != 1 {
		t.Error("durations and unknown methods")
	}
	lines := bytes.Split(bytes.TrimSpace(log.Bytes()), []byte("\n"))
	if len(lines) != 4 {
		t.Fatalf("%d log lines", len(lines))
	}
	var first map[string]any
	if err := json.Unmarshal(lines[0], &first); err != nil || first["tool"] != "echo" || first["session"] != "s1" || first["outcome"] != "ok" {
		t.Fatalf("%s %v", lines[0], err)
	}
}

func TestToolLabelsAreBounded(t *testing.T) {
	r := New(metrics.New(), nil)
	for i := 0; i < MaxTools+50; i++ {
		m := msg(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t`+string(rune('a'+i%26))+`-`+itoa(i)+`"}}`)
		r.Start(context.Background(), m, "").Done(nil, 200)
	}
	if got := r.ToolCalls.Value("other", "failed", "anonymous"); got != 50 {
		t.Fatalf("past the bound, tools count as other: %v", got)
	}
	first := msg(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"ta-0"}}`)
	r.Start(context.Background(), first, "").Done(nil, 200)
	if r.ToolCalls.Value("ta-0", "failed", "anonymous") != 2 {
		t.Fatal("a tool already labelled keeps its name")
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
