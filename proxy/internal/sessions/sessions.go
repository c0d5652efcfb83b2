// Package sessions keeps the open sessions this replica owns: when each was last used,
// idle expiry, and the counts /mcpops/info and the drain step read.
package sessions

import (
	"sync"
	"time"
)

// Registry of open sessions by client-facing id.
type Registry struct {
	mu       sync.Mutex
	idle     time.Duration
	sessions map[string]*entry
	now      func() time.Time
}

type entry struct {
	upstream string
	lastUsed time.Time
	inflight int
}

// New returns a registry expiring sessions idle longer than idle (0: never).
func New(idle time.Duration) *Registry {
	return &Registry{idle: idle, sessions: map[string]*entry{}, now: time.Now}
}

// Open records a new session.
func (r *Registry) Open(id, upstream string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sessions[id] = &entry{upstream: upstream, lastUsed: r.now()}
}

// Begin marks a request of a session in flight (an open SSE stream keeps a session from
// idling out); it returns false for a session the registry does not hold.
func (r *Registry) Begin(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.sessions[id]
	if e == nil {
		return false
	}
	e.inflight++
	e.lastUsed = r.now()
	return true
}

// End marks a request finished.
func (r *Registry) End(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.sessions[id]; e != nil {
		e.inflight--
		e.lastUsed = r.now()
	}
}

// Close forgets a session (DELETE, upstream 404, expiry); it reports whether it was open.
func (r *Registry) Close(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.sessions[id]
	delete(r.sessions, id)
	return ok
}

// Has reports whether the session is open here.
func (r *Registry) Has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id] != nil
}

// Count of open sessions.
func (r *Registry) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Expired removes and returns sessions idle past the limit with nothing in flight, as
// id -> upstream id (the caller ends them upstream).
func (r *Registry) Expired() map[string]string {
	if r.idle <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	cutoff := r.now().Add(-r.idle)
	for id, e := range r.sessions {
		if e.inflight == 0 && e.lastUsed.Before(cutoff) {
			out[id] = e.upstream
			delete(r.sessions, id)
		}
	}
	return out
}
