package security

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"mcpops.dev/proxy/internal/auth"
	"mcpops.dev/proxy/internal/jsonrpc"
)

// fixLists rewrites the answers to tools/list requests (ids in lists) in one JSON-RPC
// message or batch: tools the caller may not call are removed, overrides applied.
func (g *Guard) fixLists(data []byte, lists map[string]bool, caller *auth.Caller) []byte {
	msgs, batch, err := jsonrpc.Parse(data)
	if err != nil {
		return data
	}
	changed := false
	for i := range msgs {
		m := &msgs[i]
		if !m.IsResponse() || !lists[m.IDKey()] || len(m.Result) == 0 {
			continue
		}
		if res, ok := g.fixResult(m.Result, caller); ok {
			m.Result, changed = res, true
		}
	}
	if !changed {
		return data
	}
	return encode(msgs, batch)
}

func (g *Guard) fixResult(raw json.RawMessage, caller *auth.Caller) (json.RawMessage, bool) {
	var result map[string]json.RawMessage
	var tools []map[string]json.RawMessage
	if json.Unmarshal(raw, &result) != nil || json.Unmarshal(result["tools"], &tools) != nil {
		return nil, false
	}
	kept := make([]map[string]json.RawMessage, 0, len(tools))
	for _, t := range tools {
		var name string
		if json.Unmarshal(t["name"], &name) != nil {
			continue
		}
		if ok, _ := g.Policy.Allowed(caller, Call{Tool: name}); !ok {
			continue
		}
		if o, ok := g.Policy.t.Overrides[name]; ok {
			if o.Name != "" {
				t["name"], _ = json.Marshal(o.Name)
			}
			if o.Description != nil {
				t["description"], _ = json.Marshal(*o.Description)
			}
			if len(o.Annotations) > 0 {
				t["annotations"] = o.Annotations
			}
		}
		kept = append(kept, t)
	}
	result["tools"], _ = json.Marshal(kept)
	out, err := json.Marshal(result)
	return out, err == nil
}

// rewriter passes a response on with fix applied to its JSON-RPC messages: a JSON body
// is held until complete; an SSE stream is rewritten event by event and every complete
// event still goes on at once (never buffering a stream).
type rewriter struct {
	http.ResponseWriter
	fix    func([]byte) []byte
	mode   int // 0 undecided, 1 sse, 2 json (held), 3 other (passed)
	status int
	buf    bytes.Buffer
}

const (
	modeSSE = iota + 1
	modeJSON
	modePass
)

func (rw *rewriter) WriteHeader(status int) {
	if rw.mode != 0 {
		return
	}
	ct := rw.Header().Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "text/event-stream"):
		// Events change length when rewritten: a server that sent a whole stream with a
		// Content-Length (server-everything does) must not have it passed on.
		rw.mode = modeSSE
		rw.Header().Del("Content-Length")
	case strings.HasPrefix(ct, "application/json") && status == http.StatusOK:
		rw.mode, rw.status = modeJSON, status
		rw.Header().Del("Content-Length")
		return
	default:
		rw.mode = modePass
	}
	rw.ResponseWriter.WriteHeader(status)
}

func (rw *rewriter) Write(b []byte) (int, error) {
	if rw.mode == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	switch rw.mode {
	case modeJSON:
		return rw.buf.Write(b)
	case modeSSE:
		rw.buf.Write(b)
		return len(b), rw.events()
	}
	return rw.ResponseWriter.Write(b)
}

// events writes every complete event in the buffer.
func (rw *rewriter) events() error {
	for {
		data := rw.buf.Bytes()
		end, sep := bytes.Index(data, []byte("\n\n")), 2
		if i := bytes.Index(data, []byte("\r\n\r\n")); i >= 0 && (end < 0 || i < end) {
			end, sep = i, 4
		}
		if end < 0 {
			return nil
		}
		ev := rw.event(data[:end+sep])
		rw.buf.Next(end + sep)
		if _, err := rw.ResponseWriter.Write(ev); err != nil {
			return err
		}
	}
}

func (rw *rewriter) event(raw []byte) []byte {
	lines := strings.Split(strings.TrimRight(string(raw), "\r\n"), "\n")
	var data []string
	var other []string
	for _, l := range lines {
		l = strings.TrimSuffix(l, "\r")
		if v, ok := strings.CutPrefix(l, "data:"); ok {
			data = append(data, strings.TrimPrefix(v, " "))
		} else {
			other = append(other, l)
		}
	}
	if len(data) == 0 {
		return raw
	}
	joined := []byte(strings.Join(data, "\n"))
	fixed := rw.fix(joined)
	if bytes.Equal(fixed, joined) {
		return raw
	}
	var b bytes.Buffer
	for _, l := range other {
		b.WriteString(l + "\n")
	}
	b.WriteString("data: ")
	b.Write(fixed)
	b.WriteString("\n\n")
	return b.Bytes()
}

// Flush passes complete SSE events on; a held JSON body waits for finish.
func (rw *rewriter) Flush() {
	if rw.mode == modeJSON {
		return
	}
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (rw *rewriter) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

func (rw *rewriter) finish() {
	switch rw.mode {
	case modeJSON:
		rw.ResponseWriter.WriteHeader(rw.status)
		_, _ = rw.ResponseWriter.Write(rw.fix(rw.buf.Bytes()))
	case modeSSE:
		if rw.buf.Len() > 0 { // a stream that ended without its blank line
			_, _ = rw.ResponseWriter.Write(rw.event(rw.buf.Bytes()))
		}
	}
}
