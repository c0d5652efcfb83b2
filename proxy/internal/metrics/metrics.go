// Package metrics is a small Prometheus text-exposition registry: counters, gauges and
// histograms with labels. Hand-written so the proxy stays a few MiB (client_golang alone
// would add more than the whole proxy); the format is checked by promtool in the tests.
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

type kind string

const (
	counterKind   kind = "counter"
	gaugeKind     kind = "gauge"
	histogramKind kind = "histogram"
)

// Family describes one metric for the generated reference.
type Family struct {
	Name   string
	Help   string
	Kind   string
	Labels []string
}

type family interface {
	describe() Family
	write(w io.Writer)
}

// Registry holds the families in registration order.
type Registry struct {
	mu       sync.Mutex
	families []family
}

// New returns an empty registry.
func New() *Registry { return &Registry{} }

func (r *Registry) add(f family) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.families = append(r.families, f)
}

// Families lists what is registered, sorted by name (the reference doc).
func (r *Registry) Families() []Family {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Family, 0, len(r.families))
	for _, f := range r.families {
		out = append(out, f.describe())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// WriteText writes the exposition format.
func (r *Registry) WriteText(w io.Writer) {
	r.mu.Lock()
	fams := append([]family(nil), r.families...)
	r.mu.Unlock()
	for _, f := range fams {
		f.write(w)
	}
}

func header(w io.Writer, d Family) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", d.Name, d.Help, d.Name, d.Kind)
}

func labelText(names, values []string, extra ...string) string {
	if len(names) == 0 && len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	n := 0
	for i, name := range names {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(name)
		b.WriteString("=")
		b.WriteString(strconv.Quote(values[i]))
		n++
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(extra[i])
		b.WriteString("=")
		b.WriteString(strconv.Quote(extra[i+1]))
		n++
	}
	b.WriteByte('}')
	return b.String()
}

func formatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// seriesSet holds a family's series by label values, created on first use.
type seriesSet[T any] struct {
	mu sync.RWMutex
	m  map[string]*T
}

func (s *seriesSet[T]) get(values []string, create func() *T) *T {
	key := strings.Join(values, "\xff")
	s.mu.RLock()
	t := s.m[key]
	s.mu.RUnlock()
	if t != nil {
		return t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*T{}
	}
	if t = s.m[key]; t == nil {
		t = create()
		s.m[key] = t
	}
	return t
}

// sorted returns the series ordered by label values (stable exposition).
func (s *seriesSet[T]) sorted() []*T {
	s.mu.RLock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]*T, len(keys))
	for i, k := range keys {
		out[i] = s.m[k]
	}
	s.mu.RUnlock()
	return out
}

// ---- counters and gauges -------------------------------------------------------------

type value struct{ bits atomic.Uint64 }

func (v *value) add(d float64) {
	for {
		old := v.bits.Load()
		if v.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}
func (v *value) set(x float64) { v.bits.Store(math.Float64bits(x)) }
func (v *value) get() float64  { return math.Float64frombits(v.bits.Load()) }

// Vec is a counter or gauge family with labels.
type Vec struct {
	desc   Family
	series seriesSet[series]
}

type series struct {
	values []string
	v      value
}

// lookup returns the family already registered under name (registering twice, as the
// docs registry does for families both transports use, yields the same one).
func (r *Registry) lookup(name string) family {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.families {
		if f.describe().Name == name {
			return f
		}
	}
	return nil
}

func newVec(r *Registry, k kind, name, help string, labels []string) *Vec {
	if f, ok := r.lookup(name).(*Vec); ok {
		return f
	}
	v := &Vec{desc: Family{Name: name, Help: help, Kind: string(k), Labels: labels}}
	r.add(v)
	return v
}

// Counter registers a counter.
func (r *Registry) Counter(name, help string, labels ...string) *Vec {
	return newVec(r, counterKind, name, help, labels)
}

// Gauge registers a gauge.
func (r *Registry) Gauge(name, help string, labels ...string) *Vec {
	return newVec(r, gaugeKind, name, help, labels)
}

func (v *Vec) get(values []string) *series {
	if len(values) != len(v.desc.Labels) {
		panic(fmt.Sprintf("metric %s: %d label values for %d labels", v.desc.Name, len(values), len(v.desc.Labels)))
	}
	return v.series.get(values, func() *series { return &series{values: append([]string(nil), values...)} })
}

// Add adds d to the series named by the label values.
func (v *Vec) Add(d float64, values ...string) { v.get(values).v.add(d) }

// Inc adds one.
func (v *Vec) Inc(values ...string) { v.Add(1, values...) }

// Set sets a gauge.
func (v *Vec) Set(x float64, values ...string) { v.get(values).v.set(x) }

// Value reads a series (tests, /mcpops/info).
func (v *Vec) Value(values ...string) float64 { return v.get(values).v.get() }

func (v *Vec) describe() Family { return v.desc }

func (v *Vec) write(w io.Writer) {
	d := v.desc
	if d.Kind == string(counterKind) {
		d.Name += "_total" // the exposed name, in HELP/TYPE too (what client_golang does)
	}
	header(w, d)
	name := d.Name
	for _, s := range v.series.sorted() {
		fmt.Fprintf(w, "%s%s %s\n", name, labelText(v.desc.Labels, s.values), formatFloat(s.v.get()))
	}
}

// ---- histograms ----------------------------------------------------------------------

// LatencyBuckets suit request latencies from sub-millisecond to a minute, in seconds.
var LatencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// HistogramVec is a histogram family with labels.
type HistogramVec struct {
	desc    Family
	buckets []float64
	series  seriesSet[hseries]
}

type hseries struct {
	values []string
	counts []atomic.Uint64 // one per bucket, plus +Inf
	sum    value
}

// Histogram registers a histogram.
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	if f, ok := r.lookup(name).(*HistogramVec); ok {
		return f
	}
	h := &HistogramVec{
		desc:    Family{Name: name, Help: help, Kind: string(histogramKind), Labels: labels},
		buckets: buckets,
	}
	r.add(h)
	return h
}

func (h *HistogramVec) get(values []string) *hseries {
	return h.series.get(values, func() *hseries {
		return &hseries{values: append([]string(nil), values...), counts: make([]atomic.Uint64, len(h.buckets)+1)}
	})
}

// Observe records x (seconds) in the series named by the label values.
func (h *HistogramVec) Observe(x float64, values ...string) {
	s := h.get(values)
	i := sort.SearchFloat64s(h.buckets, x)
	s.counts[i].Add(1)
	s.sum.add(x)
}

// Count reads a series' observation count (tests).
func (h *HistogramVec) Count(values ...string) uint64 {
	s := h.get(values)
	var n uint64
	for i := range s.counts {
		n += s.counts[i].Load()
	}
	return n
}

func (h *HistogramVec) describe() Family { return h.desc }

func (h *HistogramVec) write(w io.Writer) {
	header(w, h.desc)
	for _, s := range h.series.sorted() {
		var cum uint64
		for i, b := range h.buckets {
			cum += s.counts[i].Load()
			fmt.Fprintf(w, "%s_bucket%s %d\n", h.desc.Name, labelText(h.desc.Labels, s.values, "le", formatFloat(b)), cum)
		}
		cum += s.counts[len(h.buckets)].Load()
		fmt.Fprintf(w, "%s_bucket%s %d\n", h.desc.Name, labelText(h.desc.Labels, s.values, "le", "+Inf"), cum)
		fmt.Fprintf(w, "%s_sum%s %s\n", h.desc.Name, labelText(h.desc.Labels, s.values), formatFloat(s.sum.get()))
		fmt.Fprintf(w, "%s_count%s %d\n", h.desc.Name, labelText(h.desc.Labels, s.values), cum)
	}
}

// Markdown renders the reference table of a registry's families.
func Markdown(fams []Family) string {
	var b strings.Builder
	b.WriteString("| Metric | Type | Labels | Meaning |\n|---|---|---|---|\n")
	for _, f := range fams {
		name := f.Name
		if f.Kind == string(counterKind) {
			name += "_total"
		}
		labels := strings.Join(f.Labels, ", ")
		if labels == "" {
			labels = "-"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", name, f.Kind, labels, f.Help)
	}
	return b.String()
}
