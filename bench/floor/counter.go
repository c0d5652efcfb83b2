package main

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// counter counts every HTTP request the controller makes, at its transport: nothing is
// left out (informers' lists and watches included), by verb (WATCH for a watch), resource
// (the plural, "/status" for the subresource) and response code.
type counter struct {
	mu     sync.Mutex
	counts map[[3]string]int64
}

func newCounter() *counter { return &counter{counts: map[[3]string]int64{}} }

type countingTransport struct {
	next http.RoundTripper
	c    *counter
}

func (c *counter) wrap(rt http.RoundTripper) http.RoundTripper {
	return &countingTransport{next: rt, c: c}
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	verb := req.Method
	if req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1" {
		verb = "WATCH"
	}
	resp, err := t.next.RoundTrip(req)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	key := [3]string{verb, resource(req.URL.Path), code}
	t.c.mu.Lock()
	t.c.counts[key]++
	t.c.mu.Unlock()
	return resp, err
}

// resource of an API path: /api/v1/namespaces/ns/services/x -> services,
// /apis/g/v/namespaces/ns/mcpservers/x/status -> mcpservers/status.
func resource(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		parts = parts[3:]
	default:
		return path
	}
	if len(parts) >= 2 && parts[0] == "namespaces" {
		parts = parts[2:]
	}
	switch len(parts) {
	case 0:
		return "namespaces"
	case 1, 2:
		return parts[0]
	default:
		return parts[0] + "/" + parts[2]
	}
}

func (c *counter) serve(w http.ResponseWriter, _ *http.Request) {
	c.mu.Lock()
	lines := make([]string, 0, len(c.counts))
	for k, v := range c.counts {
		lines = append(lines, fmt.Sprintf("floor_api_requests_total{verb=%q,resource=%q,code=%q} %d", k[0], k[1], k[2], v))
	}
	c.mu.Unlock()
	sort.Strings(lines)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP floor_api_requests_total HTTP requests to the API server, counted at the transport.")
	fmt.Fprintln(w, "# TYPE floor_api_requests_total counter")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
