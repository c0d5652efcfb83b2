// proxybench measures mcpops-proxy against its budget (issue 15) and writes
// bench/results/proxy.md. Every comparison runs direct and proxied in the same run.
//
//	go run . -proxy PATH -python PATH -out ../results/proxy.md
//
// HTTP: the upstream is this program in -upstream mode (a minimal Streamable HTTP MCP
// answerer, so the proxy's own cost is what the difference shows). stdio: the SDK test
// server (tests/servers/era_server.py --stdio), a real Python MCP server.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	upstream := flag.String("upstream", "", "serve as the upstream on this address (internal)")
	proxyBin := flag.String("proxy", "", "mcpops-proxy binary")
	python := flag.String("python", "python3", "python with the mcp SDK (stdio server)")
	testsDir := flag.String("tests", "../../tests", "tests/ (for servers.era_server)")
	out := flag.String("out", "../results/proxy.md", "results file")
	n := flag.Int("n", 3000, "sequential requests per latency run")
	dur := flag.Duration("duration", 5*time.Second, "throughput run length")
	baseline := flag.String("baseline", "", "optional: an earlier mcpops-proxy binary, for its size and RSS at rest beside this one's")
	flag.Parse()
	if *upstream != "" {
		serveUpstream(*upstream)
		return
	}
	r := &report{}
	must(runHTTP(r, *proxyBin, *n, *dur))
	must(runPolicies(r, *proxyBin, *baseline, *n, *dur))
	must(runStdio(r, *proxyBin, *python, *testsDir))
	must(os.WriteFile(*out, []byte(r.markdown()), 0o644))
	fmt.Print(r.markdown())
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxybench:", err)
		os.Exit(1)
	}
}

// ---- the upstream ----------------------------------------------------------------------

func serveUpstream(addr string) {
	http.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.Unmarshal(body, &m)
		if len(m.ID) == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch m.Method {
		case "initialize":
			w.Header().Set("Mcp-Session-Id", "bench-session")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"bench","version":"1"}}}`, m.ID)
		case "server/discover":
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32600,"message":"Bad Request: Missing session ID"}}`, m.ID)
		default:
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"ok"}]}}`, m.ID)
		}
	})
	must(http.ListenAndServe(addr, nil))
}

// ---- helpers ---------------------------------------------------------------------------

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer l.Close()
	return l.Addr().String()
}

func waitHTTP(url string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not 200 within %s", url, within)
}

func start(cpu string, name string, args ...string) (*exec.Cmd, error) {
	argv := append([]string{name}, args...)
	if cpu != "" {
		argv = append([]string{"taskset", "-c", cpu}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), "MCPOPS_SESSION_KEY=bench-key-bench-key-bench-key")
	return cmd, cmd.Start()
}

func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_, _ = cmd.Process.Wait()
}

func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(line)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(float64(len(s)-1)*p)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}

func mcpPost(url, session string, body []byte) (string, error) {
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode >= 300 {
		return "", fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return resp.Header.Get("Mcp-Session-Id"), nil
}

var (
	initBody = []byte(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}`)
	callBody = []byte(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`)
)

func latencies(url, session string, n int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n+200; i++ {
		t := time.Now()
		if _, err := mcpPost(url, session, callBody); err != nil {
			return nil, err
		}
		if i >= 200 { // warm-up excluded
			out = append(out, time.Since(t))
		}
	}
	return out, nil
}

func throughput(url, session string, conc int, d time.Duration) (float64, error) {
	var count atomic.Int64
	var firstErr atomic.Value
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := mcpPost(url, session, callBody); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				count.Add(1)
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(count.Load()) / d.Seconds(), nil
}

// ---- the HTTP proxy --------------------------------------------------------------------

type report struct {
	rows  [][4]string // measure, value, budget, verdict
	notes []string
}

func (r *report) add(measure, value, budget string, ok bool) {
	verdict := "meets"
	if !ok {
		verdict = "**misses**"
	}
	r.rows = append(r.rows, [4]string{measure, value, budget, verdict})
}

func runHTTP(r *report, proxyBin string, n int, dur time.Duration) error {
	self, _ := os.Executable()
	upAddr, pxAddr := freeAddr(), freeAddr()
	// Cores: proxy alone on CPU 1; upstream and load generator on CPU 0.
	up, err := start("0", self, "-upstream", upAddr)
	if err != nil {
		return err
	}
	defer stop(up)
	px, err := start("1", proxyBin, "--listen", pxAddr, "--upstream", "http://"+upAddr+"/mcp", "--log-calls=false")
	if err != nil {
		return err
	}
	defer stop(px)
	if err := waitHTTP("http://"+pxAddr+"/readyz", 30*time.Second); err != nil {
		return err
	}
	time.Sleep(time.Second)
	rest := rssMiB(px.Process.Pid)
	r.add("RSS at rest (after start-up and a readiness check)", fmt.Sprintf("%.1f MiB", rest), "<= 30 MiB", rest <= 30)

	direct, proxied := "http://"+upAddr+"/mcp", "http://"+pxAddr+"/mcp"
	dsid, err := mcpPost(direct, "", initBody)
	if err != nil {
		return err
	}
	psid, err := mcpPost(proxied, "", initBody)
	if err != nil {
		return err
	}
	dl, err := latencies(direct, dsid, n)
	if err != nil {
		return err
	}
	pl, err := latencies(proxied, psid, n)
	if err != nil {
		return err
	}
	p50d, p50p := percentile(dl, 0.5), percentile(pl, 0.5)
	p99d, p99p := percentile(dl, 0.99), percentile(pl, 0.99)
	r.add("added latency p50 (sequential tools/call, loopback)", fmt.Sprintf("%s (direct %s, proxied %s, ratio %.2f)", ms(p50p-p50d), ms(p50d), ms(p50p), float64(p50p)/float64(p50d)), "<= 1 ms", p50p-p50d <= time.Millisecond)
	r.add("added latency p99", fmt.Sprintf("%s (direct %s, proxied %s)", ms(p99p-p99d), ms(p99d), ms(p99p)), "<= 5 ms", p99p-p99d <= 5*time.Millisecond)

	dt, err := throughput(direct, dsid, 16, dur)
	if err != nil {
		return err
	}
	pt, err := throughput(proxied, psid, 16, dur)
	if err != nil {
		return err
	}
	r.add("requests/s through one proxy on one core (16 clients)", fmt.Sprintf("%.0f (direct %.0f, ratio %.2f)", pt, dt, pt/dt), ">= 2,000", pt >= 2000)
	r.add("RSS after the load", fmt.Sprintf("%.1f MiB", rssMiB(px.Process.Pid)), "-", true)
	return nil
}

// ---- tool policy: per-caller rules as a matcher, and with a CEL `when` ---------------

// The same tools/call through the proxy with no settings, with a rule matched by the
// documented matcher, and with a rule whose CEL `when` is evaluated on every call. The
// caller is anonymous (no auth section): token verification costs the same either way
// (and is cached per token); the audit record is off (stdout's cost is not the policy's).
var policies = []struct{ name, settings string }{
	{"no settings", ""},
	{"rules, matcher only", `{"audit":{"enabled":false},"tools":{"allow":["echo","read_*"],"rules":[{"name":"everyone","match":{},"allow":["echo","read_*"]}]}}`},
	{"rules with a CEL when", `{"audit":{"enabled":false},"tools":{"allow":["echo","read_*"],"rules":[{"name":"everyone","match":{},"allow":["echo","read_*"],
	  "when":"(tool == \"echo\" || tool.startsWith(\"read_\")) && argumentsBytes < 4096 && !groups.exists(g, g == \"blocked\") && sub.size() < 256"}]}}`},
}

func runPolicies(r *report, proxyBin, baseline string, n int, dur time.Duration) error {
	self, _ := os.Executable()
	upAddr := freeAddr()
	up, err := start("0", self, "-upstream", upAddr)
	if err != nil {
		return err
	}
	defer stop(up)
	size := func(path string) string {
		st, err := os.Stat(path)
		if err != nil {
			return "?"
		}
		return fmt.Sprintf("%.1f MiB", float64(st.Size())/(1<<20))
	}
	value := size(proxyBin)
	if baseline != "" {
		rest, err := restRSS(baseline, upAddr, "")
		if err != nil {
			return err
		}
		value += fmt.Sprintf(" (baseline %s, RSS at rest %.1f MiB)", size(baseline), rest)
	}
	r.add("binary size (static, stripped)", value, "-", true)
	r.notes = append(r.notes, "Policy rows: the same binary and tools/call with no security file, with one per-caller rule "+
		"matched by `match`, and with one whose CEL `when` runs on every call (anonymous caller, audit off; `+` is p50 against "+
		"no settings, within run-to-run noise at this size). The evaluation's own cost, without HTTP: "+
		"`cd proxy && go test -run - -bench Allowed ./internal/security/`.")
	var base time.Duration
	for i, p := range policies {
		m, err := measurePolicy(proxyBin, upAddr, p.settings, n, dur)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		if i == 0 {
			base = m.p50
		}
		r.add("policy: "+p.name, fmt.Sprintf("RSS at rest %.1f MiB, after load %.1f MiB; p50 %s (+%s), p99 %s; %.0f req/s",
			m.rest, m.loaded, ms(m.p50), ms(m.p50-base), ms(m.p99), m.rps), "<= 30 MiB", m.rest <= 30 && m.loaded <= 30)
	}
	return nil
}

type policyRun struct {
	rest, loaded, rps float64
	p50, p99          time.Duration
}

func proxyWith(bin, upAddr, settings string) (*exec.Cmd, string, error) {
	pxAddr := freeAddr()
	args := []string{"--listen", pxAddr, "--upstream", "http://" + upAddr + "/mcp", "--log-calls=false"}
	if settings != "" {
		f, err := os.CreateTemp("", "proxybench-*.json")
		if err != nil {
			return nil, "", err
		}
		defer f.Close()
		if _, err := f.WriteString(settings); err != nil {
			return nil, "", err
		}
		defer os.Remove(f.Name()) // read at start; gone once the proxy is ready
		args = append(args, "--security-file", f.Name())
	}
	px, err := start("1", bin, args...)
	if err != nil {
		return nil, "", err
	}
	if err := waitHTTP("http://"+pxAddr+"/readyz", 30*time.Second); err != nil {
		stop(px)
		return nil, "", err
	}
	time.Sleep(time.Second)
	return px, "http://" + pxAddr + "/mcp", nil
}

func restRSS(bin, upAddr, settings string) (float64, error) {
	px, _, err := proxyWith(bin, upAddr, settings)
	if err != nil {
		return 0, err
	}
	defer stop(px)
	return rssMiB(px.Process.Pid), nil
}

func measurePolicy(bin, upAddr, settings string, n int, dur time.Duration) (policyRun, error) {
	var m policyRun
	px, url, err := proxyWith(bin, upAddr, settings)
	if err != nil {
		return m, err
	}
	defer stop(px)
	m.rest = rssMiB(px.Process.Pid)
	sid, err := mcpPost(url, "", initBody)
	if err != nil {
		return m, err
	}
	lat, err := latencies(url, sid, n)
	if err != nil {
		return m, err
	}
	m.p50, m.p99 = percentile(lat, 0.5), percentile(lat, 0.99)
	if m.rps, err = throughput(url, sid, 16, dur); err != nil {
		return m, err
	}
	m.loaded = rssMiB(px.Process.Pid)
	return m, nil
}

// ---- the stdio bridge ------------------------------------------------------------------

// stdioDirect talks to a stdio server over its pipes, as the bridge does, for the
// baseline of the bridge's added cost.
type stdioDirect struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func (s *stdioDirect) call(body []byte) error {
	if _, err := s.in.Write(append(body, '\n')); err != nil {
		return err
	}
	for {
		line, err := s.out.ReadBytes('\n')
		if err != nil {
			return err
		}
		if bytes.Contains(line, []byte(`"result"`)) || bytes.Contains(line, []byte(`"error"`)) {
			return nil
		}
	}
}

func runStdio(r *report, proxyBin, python, tests string) error {
	abs, _ := filepath.Abs(tests)
	server := []string{python, "-m", "servers.era_server", "--stdio"}
	must(os.Chdir(abs)) // python -m servers.era_server resolves from tests/

	// Cold start: how long a new session would wait without the pool.
	var colds []time.Duration
	for i := 0; i < 3; i++ {
		t := time.Now()
		cmd := exec.Command(server[0], server[1:]...)
		in, _ := cmd.StdinPipe()
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return err
		}
		d := &stdioDirect{cmd, in, bufio.NewReader(out)}
		if err := d.call(initBody); err != nil {
			return err
		}
		colds = append(colds, time.Since(t))
		stop(cmd)
	}

	addr := freeAddr()
	px, err := start("", proxyBin, "--listen", addr, "--transport", "stdio", "--warm", "2", "--log-calls=false", "--", server[0], server[1], server[2], server[3])
	if err != nil {
		return err
	}
	defer stop(px)
	base := "http://" + addr
	if err := waitHTTP(base+"/readyz", 60*time.Second); err != nil {
		return err
	}
	var opens []time.Duration
	sessions := []string{}
	for i := 0; i < 8; i++ {
		if err := waitWarm(base, 2, 60*time.Second); err != nil {
			return err
		}
		t := time.Now()
		sid, err := mcpPost(base+"/mcp", "", initBody)
		if err != nil {
			return err
		}
		opens = append(opens, time.Since(t))
		sessions = append(sessions, sid)
	}
	p50open := percentile(opens, 0.5)
	r.add("stdio: new session start with the warm pool, p50 of 8", fmt.Sprintf("%s (max %s; cold process start + initialize p50 %s)", ms(p50open), ms(percentile(opens, 1)), ms(percentile(colds, 0.5))), "<= 100 ms", p50open <= 100*time.Millisecond)

	// Bridge cost per call: echo through the bridge vs over the pipes directly.
	cmd := exec.Command(server[0], server[1:]...)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return err
	}
	defer stop(cmd)
	d := &stdioDirect{cmd, in, bufio.NewReader(out)}
	if err := d.call(initBody); err != nil {
		return err
	}
	_, _ = in.Write([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}` + "\n"))
	var direct []time.Duration
	for i := 0; i < 520; i++ {
		t := time.Now()
		if err := d.call(callBody); err != nil {
			return err
		}
		if i >= 20 {
			direct = append(direct, time.Since(t))
		}
	}
	_, _ = mcpPost(base+"/mcp", sessions[0], []byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	bridged, err := latenciesN(base+"/mcp", sessions[0], 500, 20)
	if err != nil {
		return err
	}
	dp, bp := percentile(direct, 0.5), percentile(bridged, 0.5)
	r.add("stdio: bridge cost per tools/call, p50", fmt.Sprintf("%s (direct over pipes %s, through the bridge %s)", ms(bp-dp), ms(dp), ms(bp)), "<= 2 ms", bp-dp <= 2*time.Millisecond)
	r.add("stdio: proxy RSS with 8 sessions (proxy process only)", fmt.Sprintf("%.1f MiB", rssMiB(px.Process.Pid)), "-", true)
	return nil
}

func latenciesN(url, session string, n, warm int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n+warm; i++ {
		t := time.Now()
		if _, err := mcpPost(url, session, callBody); err != nil {
			return nil, err
		}
		if i >= warm {
			out = append(out, time.Since(t))
		}
	}
	return out, nil
}

func waitWarm(base string, want int, within time.Duration) error {
	deadline := time.Now().Add(within)
	needle := fmt.Sprintf(`mcpops_proxy_stdio_children{role="warm"} %d`, want)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), needle) {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("warm pool not refilled within %s", within)
}

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("# mcpops-proxy benchmark\n\n")
	b.WriteString("<!-- written by `make bench-proxy` (bench/proxybench); do not edit -->\n\n")
	fmt.Fprintf(&b, "Run %s on %s/%s, %d CPUs, %s. HTTP: proxy pinned to CPU 1 (taskset), upstream and load generator on CPU 0; the upstream is a minimal Go MCP answerer so the difference is the proxy's own cost. stdio: the SDK test server (`tests/servers/era_server.py --stdio`, Python).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	b.WriteString("| Measure | Value | Budget | |\n|---|---|---|---|\n")
	for _, row := range r.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row[0], row[1], row[2], row[3])
	}
	for _, n := range r.notes {
		b.WriteString("\n" + n + "\n")
	}
	b.WriteString("\nThe machine is shared (other jobs may run); numbers are one run, not a best of several.\n")
	return b.String()
}
