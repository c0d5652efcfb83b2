package server

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Config is what the flags say.
type Config struct {
	Listen         string
	Path           string
	Transport      string // http | stdio
	Upstream       string
	Sessions       string // sticky | none
	SessionIdle    time.Duration
	SessionKeyFile string
	Advertise      string
	ReadyTimeout   time.Duration
	LiveTimeout    time.Duration
	CheckTTL       time.Duration
	MaxBody        int64
	Warm           int
	MaxSessions    int
	ForwardTimeout time.Duration
	DrainTimeout   time.Duration
	DrainDelay     time.Duration
	LogCalls       bool
	SecurityFile   string   // auth, tool policy, rate limits, audit (proxy/README.md)
	Command        []string // stdio: the server's argv (after --)
}

// Parse reads flags (and POD_IP for the advertised address).
func Parse(args []string, stderr io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("mcpops-proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Listen, "listen", ":8090", "address to serve on (MCP path, /readyz, /livez, /metrics, /mcpops/info)")
	fs.StringVar(&c.Path, "path", "/mcp", "the MCP endpoint path, on the proxy and (http) on the server")
	fs.StringVar(&c.Transport, "transport", "http", "http: proxy a Streamable HTTP server at --upstream; stdio: run the command after -- per session")
	fs.StringVar(&c.Upstream, "upstream", "http://127.0.0.1:8080/mcp", "the MCP server's URL (http transport)")
	fs.StringVar(&c.Sessions, "sessions", "sticky", "sticky: issue session ids naming this replica and forward to the owner; none: pass ids through")
	fs.DurationVar(&c.SessionIdle, "session-idle", 30*time.Minute, "end sessions idle this long (0: never)")
	fs.StringVar(&c.SessionKeyFile, "session-key-file", "", "file with the key every replica shares to sign session ids (else env MCPOPS_SESSION_KEY)")
	fs.StringVar(&c.Advertise, "advertise", "", "host:port other replicas reach this proxy at (default $POD_IP and the --listen port)")
	fs.DurationVar(&c.ReadyTimeout, "ready-timeout", 3*time.Second, "a full MCP exchange must finish within this for /readyz")
	fs.DurationVar(&c.LiveTimeout, "live-timeout", 2*time.Second, "the server must answer one request within this for /livez")
	fs.DurationVar(&c.CheckTTL, "check-ttl", time.Second, "reuse a readiness result this long")
	fs.Int64Var(&c.MaxBody, "max-body", 4<<20, "largest request body in bytes; larger is refused with 413")
	fs.IntVar(&c.Warm, "warm", 1, "stdio: children started ahead of need, so a new session does not wait for a process start")
	fs.IntVar(&c.MaxSessions, "max-sessions", 0, "refuse new sessions (503) beyond this many open here (0: no limit; stdio default 64)")
	fs.DurationVar(&c.ForwardTimeout, "forward-timeout", time.Second, "connect timeout to the replica owning a session; past it the client gets 404")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 0, "after SIGTERM, stop waiting for open sessions after this (0: until killed)")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 2*time.Second, "after SIGTERM, keep serving at least this long (endpoints take a moment to drop the pod)")
	fs.BoolVar(&c.LogCalls, "log-calls", true, "one JSON log line per call on stdout")
	fs.StringVar(&c.SecurityFile, "security-file", os.Getenv("MCPOPS_SECURITY"), "JSON settings: auth, tool policy, rate limits, audit (else env MCPOPS_SECURITY; a bad file stops the proxy)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mcpops-proxy [flags] [-- stdio server command...]\n       mcpops-proxy install DIR\n       mcpops-proxy metrics-doc")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.Command = fs.Args()
	return c, c.validate()
}

func (c *Config) validate() error {
	var errs []string
	switch c.Transport {
	case "http":
		u, err := url.Parse(c.Upstream)
		if err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
			errs = append(errs, fmt.Sprintf("--upstream %q is not an http(s) URL", c.Upstream))
		}
		if len(c.Command) > 0 {
			errs = append(errs, "a command after -- needs --transport stdio")
		}
	case "stdio":
		if len(c.Command) == 0 {
			errs = append(errs, "--transport stdio needs the server command after --")
		}
		if c.MaxSessions == 0 {
			c.MaxSessions = 64
		}
	default:
		errs = append(errs, fmt.Sprintf("--transport must be http or stdio, not %q", c.Transport))
	}
	if c.Sessions != "sticky" && c.Sessions != "none" {
		errs = append(errs, fmt.Sprintf("--sessions must be sticky or none, not %q", c.Sessions))
	}
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, "--path must start with /")
	}
	if c.MaxBody <= 0 || c.ReadyTimeout <= 0 || c.LiveTimeout <= 0 || c.Warm < 0 {
		errs = append(errs, "--max-body, --ready-timeout and --live-timeout must be > 0, --warm >= 0")
	}
	if c.Advertise == "" {
		_, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			errs = append(errs, fmt.Sprintf("--listen %q: %v", c.Listen, err))
		}
		host := os.Getenv("POD_IP")
		if host == "" {
			host = "127.0.0.1"
		}
		c.Advertise = net.JoinHostPort(host, port)
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
