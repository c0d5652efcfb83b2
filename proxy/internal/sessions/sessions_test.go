package sessions

import (
	"testing"
	"time"
)

func TestIdleExpirySparesBusySessions(t *testing.T) {
	r := New(time.Minute)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	r.Open("a", "ua")
	r.Open("b", "ub")
	if !r.Begin("b") {
		t.Fatal("b is open")
	}
	now = now.Add(2 * time.Minute)
	got := r.Expired()
	if len(got) != 1 || got["a"] != "ua" {
		t.Fatalf("only the idle session expires: %v", got)
	}
	if r.Count() != 1 || !r.Has("b") || r.Has("a") {
		t.Fatal("b stays while in flight")
	}
	r.End("b")
	now = now.Add(30 * time.Second)
	if len(r.Expired()) != 0 {
		t.Fatal("b was used 30 s ago")
	}
	now = now.Add(31 * time.Second)
	if got := r.Expired(); got["b"] != "ub" {
		t.Fatalf("b idle now: %v", got)
	}
}

func TestUnknownAndClose(t *testing.T) {
	r := New(0)
	if r.Begin("x") {
		t.Fatal("unknown session")
	}
	r.Open("x", "u")
	if !r.Close("x") || r.Close("x") || r.Count() != 0 {
		t.Fatal("close once")
	}
	if r.Expired() != nil {
		t.Fatal("no expiry when idle is 0")
	}
}
