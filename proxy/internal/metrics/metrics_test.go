package metrics

import (
	"strings"
	"sync"
	"testing"
)

func TestExposition(t *testing.T) {
	r := New()
	c := r.Counter("mcpops_proxy_requests", "Requests.", "method")
	g := r.Gauge("mcpops_proxy_ready", "Ready.")
	h := r.Histogram("mcpops_proxy_latency_seconds", "Latency.", []float64{0.1, 1}, "tool")
	c.Inc("tools/call")
	c.Add(2, "ping")
	g.Set(1)
	h.Observe(0.05, "echo")
	h.Observe(0.5, "echo")
	h.Observe(5, "echo")
	var b strings.Builder
	r.WriteText(&b)
	out := b.String()
	for _, want := range []string{
		"# TYPE mcpops_proxy_requests_total counter\n",
		`mcpops_proxy_requests_total{method="ping"} 2` + "\n",
		`mcpops_proxy_requests_total{method="tools/call"} 1` + "\n",
		"mcpops_proxy_ready 1\n",
		`mcpops_proxy_latency_seconds_bucket{tool="echo",le="0.1"} 1` + "\n",
		`mcpops_proxy_latency_seconds_bucket{tool="echo",le="1"} 2` + "\n",
		`mcpops_proxy_latency_seconds_bucket{tool="echo",le="+Inf"} 3` + "\n",
		`mcpops_proxy_latency_seconds_sum{tool="echo"} 5.55` + "\n",
		`mcpops_proxy_latency_seconds_count{tool="echo"} 3` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Index(out, `method="ping"`) > strings.Index(out, `method="tools/call"`) {
		t.Error("series are sorted")
	}
}

func TestLabelValuesAreEscaped(t *testing.T) {
	r := New()
	c := r.Counter("x", "X.", "tool")
	c.Inc("a\"b\nc")
	var b strings.Builder
	r.WriteText(&b)
	if !strings.Contains(b.String(), `x_total{tool="a\"b\nc"} 1`) {
		t.Fatal(b.String())
	}
}

func TestConcurrentAdds(t *testing.T) {
	r := New()
	c := r.Counter("n", "N.", "k")
	h := r.Histogram("h", "H.", LatencyBuckets)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				c.Inc("a")
				h.Observe(0.001)
			}
		}()
	}
	wg.Wait()
	if c.Value("a") != 8000 || h.Count() != 8000 {
		t.Fatalf("%v %v", c.Value("a"), h.Count())
	}
}

func TestMarkdown(t *testing.T) {
	r := New()
	r.Counter("a", "A things.", "x", "y")
	r.Gauge("b", "B.")
	md := Markdown(r.Families())
	if !strings.Contains(md, "| `a_total` | counter | x, y | A things. |") || !strings.Contains(md, "| `b` | gauge | - | B. |") {
		t.Fatal(md)
	}
}

func TestRegisteringTwiceIsTheSameFamily(t *testing.T) {
	r := New()
	a := r.Counter("a", "A.")
	if r.Counter("a", "A.") != a || len(r.Families()) != 1 {
		t.Fatal("one family per name")
	}
}
