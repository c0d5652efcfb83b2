package jsonrpc

import (
	"encoding/json"
	"testing"
)

func TestParseSingleAndBatch(t *testing.T) {
	msgs, batch, err := Parse([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","_meta":{"progressToken":"p1"}}}`))
	if err != nil || batch || len(msgs) != 1 {
		t.Fatalf("single: %v %v %d", err, batch, len(msgs))
	}
	m := msgs[0]
	if !m.IsRequest() || m.IsNotification() || m.IsResponse() {
		t.Fatal("a request with an id is a request")
	}
	if m.ToolName() != "echo" || string(m.ProgressToken()) != `"p1"` || m.IDKey() != "1" {
		t.Fatalf("tool %q token %s id %s", m.ToolName(), m.ProgressToken(), m.IDKey())
	}
	msgs, batch, err = Parse([]byte(` [{"jsonrpc":"2.0","method":"notifications/initialized"},{"jsonrpc":"2.0","id":"a","result":{}}]`))
	if err != nil || !batch || len(msgs) != 2 {
		t.Fatalf("batch: %v %v %d", err, batch, len(msgs))
	}
	if !msgs[0].IsNotification() || !msgs[1].IsResponse() || msgs[1].IDKey() != `"a"` {
		t.Fatal("batch members keep their kinds")
	}
	for _, bad := range []string{"", "[]", "{", "[1"} {
		if _, _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("%q must not parse", bad)
		}
	}
}

func TestNullIDIsNotAnID(t *testing.T) {
	msgs, _, _ := Parse([]byte(`{"jsonrpc":"2.0","id":null,"method":"x"}`))
	if msgs[0].IsRequest() || !msgs[0].IsNotification() {
		t.Fatal("id null is no id")
	}
}

func TestToolFailed(t *testing.T) {
	cases := map[string]bool{
		`{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":true}}`:    true,
		`{"jsonrpc":"2.0","id":1,"result":{"content":[],"isError":false}}`:   false,
		`{"jsonrpc":"2.0","id":1,"result":{"content":[{"text":"isError"}]}}`: false,
		`{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"no"}}`:    true,
	}
	for body, want := range cases {
		msgs, _, err := Parse([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if got := msgs[0].ToolFailed(); got != want {
			t.Errorf("%s: failed=%v want %v", body, got, want)
		}
	}
}

func TestWithIDAndErrorResponse(t *testing.T) {
	msgs, _, _ := Parse([]byte(`{"jsonrpc":"2.0","id":"client-7","method":"ping"}`))
	out, err := WithID(msgs[0], json.RawMessage("42"))
	if err != nil {
		t.Fatal(err)
	}
	back, _, _ := Parse(out)
	if back[0].IDKey() != "42" || back[0].Method != "ping" {
		t.Fatalf("re-id: %s", out)
	}
	e := ErrorResponse(nil, InvalidRequest, "bad")
	back, _, _ = Parse(e)
	if back[0].Error == nil || back[0].Error.Code != InvalidRequest || string(back[0].ID) != "null" {
		t.Fatalf("error response: %s", e)
	}
}
