// Package sse reads and writes text/event-stream one event at a time, never buffering a
// stream: a proxy that waits for a stream to end before passing it on breaks MCP progress
// notifications and long-lived GET streams.
package sse

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
)

// Event is one server-sent event. Raw is its exact text including the blank line that
// ends it, so a proxy can pass it on unchanged (ids, retry, comments included).
type Event struct {
	ID    string
	Name  string
	Data  string
	Retry string
	Raw   []byte
}

// Reader yields the events of a stream as they arrive.
type Reader struct {
	br *bufio.Reader
}

// NewReader reads events from r.
func NewReader(r io.Reader) *Reader { return &Reader{br: bufio.NewReaderSize(r, 16<<10)} }

// Next returns the next event, or io.EOF at the end of the stream. Comment-only blocks
// (keep-alives) are returned too (empty Data) so a proxy passes them on.
func (r *Reader) Next() (Event, error) {
	var ev Event
	var raw bytes.Buffer
	var data []string
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			if err == io.EOF && raw.Len()+len(line) > 0 {
				raw.WriteString(line)
				ev.Raw = append(raw.Bytes(), '\n', '\n')
				ev.Data = strings.Join(data, "\n")
				return ev, nil
			}
			return ev, err
		}
		raw.WriteString(line)
		text := strings.TrimRight(line, "\r\n")
		if text == "" {
			if raw.Len() <= 2 { // a stray blank line between events
				raw.Reset()
				continue
			}
			ev.Raw = raw.Bytes()
			ev.Data = strings.Join(data, "\n")
			return ev, nil
		}
		field, value, _ := strings.Cut(text, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			data = append(data, value)
		case "id":
			ev.ID = value
		case "event":
			ev.Name = value
		case "retry":
			ev.Retry = value
		}
	}
}

// Writer writes events to an HTTP response and flushes each one.
type Writer struct {
	w http.ResponseWriter
	f http.Flusher
}

// NewWriter sets the stream headers and returns a writer; the status is sent with the
// first event (or Start).
func NewWriter(w http.ResponseWriter) *Writer {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache, no-transform")
	h.Set("X-Accel-Buffering", "no") // nginx-style gateways in front must not buffer either
	f, _ := w.(http.Flusher)
	return &Writer{w: w, f: f}
}

// Start sends the status line and headers now.
func (s *Writer) Start(status int) {
	s.w.WriteHeader(status)
	s.Flush()
}

// Raw passes an event on unchanged.
func (s *Writer) Raw(raw []byte) error {
	if _, err := s.w.Write(raw); err != nil {
		return err
	}
	s.Flush()
	return nil
}

// Message writes one "message" event carrying data (a JSON-RPC message), with an id if
// given.
func (s *Writer) Message(id string, data []byte) error {
	var b bytes.Buffer
	b.Grow(len(data) + 32)
	if id != "" {
		b.WriteString("id: ")
		b.WriteString(id)
		b.WriteByte('\n')
	}
	b.WriteString("event: message\n")
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(line)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return s.Raw(b.Bytes())
}

// Flush pushes what was written to the client.
func (s *Writer) Flush() {
	if s.f != nil {
		s.f.Flush()
	}
}

// Accepts reports whether an Accept header admits media type mt.
func Accepts(accept, mt string) bool {
	for _, part := range strings.Split(accept, ",") {
		t := strings.TrimSpace(strings.SplitN(part, ";", 2)[0])
		if t == mt || t == "*/*" {
			return true
		}
	}
	return false
}
