package mcpcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"mcpops.dev/proxy/internal/jsonrpc"
	"mcpops.dev/proxy/internal/sse"
)

// Reply is what one exchange got back.
type Reply struct {
	Status int         // HTTP status (200 for stdio)
	Header http.Header // response headers (nil for stdio)
	Msg    *jsonrpc.Message
}

// Exchanger sends one JSON-RPC message and returns the answer to it (Msg nil for a
// notification). The HTTP one talks to the server's endpoint; the stdio bridge passes
// its control child.
type Exchanger interface {
	Exchange(ctx context.Context, header http.Header, body []byte) (Reply, error)
	// Close ends a session the check opened (HTTP DELETE); no-op where meaningless.
	Close(ctx context.Context, sessionID string)
}

// HTTPExchanger posts to a Streamable HTTP endpoint.
type HTTPExchanger struct {
	URL    string
	Client *http.Client
}

const maxReply = 4 << 20

// Exchange posts body and reads a JSON or SSE answer.
func (h *HTTPExchanger) Exchange(ctx context.Context, header http.Header, body []byte) (Reply, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return Reply{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := h.Client.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer resp.Body.Close()
	out := Reply{Status: resp.StatusCode, Header: resp.Header}
	msgs, _, perr := jsonrpc.Parse(body)
	wantID := ""
	if perr == nil && msgs[0].IsRequest() {
		wantID = msgs[0].IDKey()
	}
	ctype := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ctype, "text/event-stream"):
		out.Msg, err = readSSE(resp.Body, wantID)
	case strings.HasPrefix(ctype, "application/json"):
		out.Msg, err = readJSON(resp.Body)
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxReply))
	}
	return out, err
}

func readJSON(r io.Reader) (*jsonrpc.Message, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxReply))
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	msgs, _, err := jsonrpc.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("answer is not JSON-RPC: %w", err)
	}
	return &msgs[0], nil
}

func readSSE(r io.Reader, wantID string) (*jsonrpc.Message, error) {
	rd := sse.NewReader(r)
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("event stream ended without an answer")
			}
			return nil, err
		}
		if ev.Data == "" {
			continue
		}
		var m jsonrpc.Message
		if json.Unmarshal([]byte(ev.Data), &m) != nil {
			continue
		}
		if m.IsResponse() && (wantID == "" || m.IDKey() == wantID) {
			return &m, nil
		}
	}
}

// Close sends DELETE for the session so checks leave no sessions behind.
func (h *HTTPExchanger) Close(ctx context.Context, sessionID string) {
	if sessionID == "" {
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, h.URL, nil)
	if err != nil {
		return
	}
	req.Header.Set("Mcp-Session-Id", sessionID)
	if resp, err := h.Client.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
