package sse

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestReaderKeepsRawAndFields(t *testing.T) {
	stream := "id: 7\nevent: message\ndata: {\"a\":1}\n\n: keep-alive\n\n\ndata: line1\ndata: line2\nretry: 100\n\n"
	r := NewReader(strings.NewReader(stream))
	ev, err := r.Next()
	if err != nil || ev.ID != "7" || ev.Name != "message" || ev.Data != `{"a":1}` {
		t.Fatalf("first: %+v %v", ev, err)
	}
	if string(ev.Raw) != "id: 7\nevent: message\ndata: {\"a\":1}\n\n" {
		t.Fatalf("raw kept exactly: %q", ev.Raw)
	}
	ev, _ = r.Next()
	if ev.Data != "" || string(ev.Raw) != ": keep-alive\n\n" {
		t.Fatalf("comment: %+v", ev)
	}
	ev, _ = r.Next()
	if ev.Data != "line1\nline2" || ev.Retry != "100" {
		t.Fatalf("multi-line: %+v", ev)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// Each event reaches the client before the next one is written: nothing waits for the
// end of the stream.
func TestWriterFlushesEachEvent(t *testing.T) {
	next := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s := NewWriter(w)
		s.Start(200)
		_ = s.Message("1", []byte(`{"n":1}`))
		<-next
		_ = s.Message("2", []byte(`{"n":2}`))
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatal(resp.Header)
	}
	r := NewReader(resp.Body)
	got := make(chan Event)
	go func() {
		ev, _ := r.Next()
		got <- ev
	}()
	select {
	case ev := <-got:
		if ev.ID != "1" || ev.Data != `{"n":1}` {
			t.Fatalf("%+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event was held back")
	}
	close(next)
	ev, err := r.Next()
	if err != nil || ev.ID != "2" {
		t.Fatalf("%+v %v", ev, err)
	}
}

func TestAccepts(t *testing.T) {
	if !Accepts("application/json, text/event-stream;q=0.9", "text/event-stream") {
		t.Fatal("listed type")
	}
	if Accepts("application/json", "text/event-stream") {
		t.Fatal("unlisted type")
	}
	if !Accepts("*/*", "text/event-stream") {
		t.Fatal("wildcard")
	}
}
