// Package jsonrpc reads and writes the JSON-RPC 2.0 messages MCP carries, single or batched.
//
// Fields stay raw (json.RawMessage) so the proxy forwards what it got byte for byte and
// only decodes what it routes on: the method, the id, the tool name, the error.
package jsonrpc

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Message is any JSON-RPC message: request (method+id), notification (method, no id)
// or response (id with result or error).
type Message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *Error          `json:"error,omitempty"`
}

// Error is a JSON-RPC error object.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// Error codes used by the proxy itself.
const (
	ParseError     = -32700
	InvalidRequest = -32600
	MethodNotFound = -32601
	InvalidParams  = -32602
	InternalError  = -32603
)

// IsRequest: has a method and an id.
func (m *Message) IsRequest() bool { return m.Method != "" && hasID(m.ID) }

// IsNotification: has a method and no id.
func (m *Message) IsNotification() bool { return m.Method != "" && !hasID(m.ID) }

// IsResponse: no method, an id, a result or an error.
func (m *Message) IsResponse() bool { return m.Method == "" && (m.Result != nil || m.Error != nil) }

func hasID(id json.RawMessage) bool {
	return len(id) > 0 && !bytes.Equal(id, []byte("null"))
}

// IDKey is the id as a map key (its JSON text: 1 and "1" stay distinct, as JSON-RPC says).
func (m *Message) IDKey() string { return string(bytes.TrimSpace(m.ID)) }

// ErrEmpty is returned for an empty body or an empty batch.
var ErrEmpty = errors.New("jsonrpc: empty message")

// Parse decodes one message or a batch; batch reports which it was.
func Parse(body []byte) (msgs []Message, batch bool, err error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false, ErrEmpty
	}
	if body[0] == '[' {
		if err := json.Unmarshal(body, &msgs); err != nil {
			return nil, true, err
		}
		if len(msgs) == 0 {
			return nil, true, ErrEmpty
		}
		return msgs, true, nil
	}
	var m Message
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, false, err
	}
	return []Message{m}, false, nil
}

// ToolName is params.name of a tools/call request ("" otherwise).
func (m *Message) ToolName() string {
	if m.Method != "tools/call" || len(m.Params) == 0 {
		return ""
	}
	var p struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(m.Params, &p) != nil {
		return ""
	}
	return p.Name
}

// ToolFailed: a response that is a JSON-RPC error or a tool result with isError true.
func (m *Message) ToolFailed() bool {
	if m.Error != nil {
		return true
	}
	if len(m.Result) == 0 || !bytes.Contains(m.Result, []byte(`"isError"`)) {
		return false
	}
	var r struct {
		IsError bool `json:"isError"`
	}
	return json.Unmarshal(m.Result, &r) == nil && r.IsError
}

// ProgressToken is params._meta.progressToken of a request (raw JSON, nil if none).
func (m *Message) ProgressToken() json.RawMessage {
	if len(m.Params) == 0 || !bytes.Contains(m.Params, []byte("progressToken")) {
		return nil
	}
	var p struct {
		Meta struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
	}
	if json.Unmarshal(m.Params, &p) != nil {
		return nil
	}
	return p.Meta.Token
}

// Request builds a request message.
func Request(id any, method string, params any) ([]byte, error) {
	rawID, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	var rawParams json.RawMessage
	if params != nil {
		if rawParams, err = json.Marshal(params); err != nil {
			return nil, err
		}
	}
	return json.Marshal(Message{JSONRPC: "2.0", ID: rawID, Method: method, Params: rawParams})
}

// Notification builds a notification message.
func Notification(method string, params any) ([]byte, error) {
	var rawParams json.RawMessage
	if params != nil {
		var err error
		if rawParams, err = json.Marshal(params); err != nil {
			return nil, err
		}
	}
	return json.Marshal(Message{JSONRPC: "2.0", Method: method, Params: rawParams})
}

// ErrorResponse builds an error response for id (nil id becomes null).
func ErrorResponse(id json.RawMessage, code int, message string) []byte {
	if !hasID(id) {
		id = json.RawMessage("null")
	}
	out, _ := json.Marshal(Message{JSONRPC: "2.0", ID: id, Error: &Error{Code: code, Message: message}})
	return out
}

// WithID returns the message re-encoded with another id (the stdio bridge numbers the
// requests it writes to a shared child so that two clients' ids never collide).
func WithID(m Message, id json.RawMessage) ([]byte, error) {
	m.ID = id
	if m.JSONRPC == "" {
		m.JSONRPC = "2.0"
	}
	return json.Marshal(m)
}
