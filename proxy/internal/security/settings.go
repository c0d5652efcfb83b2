// Package security is what the settings file (--security-file, env MCPOPS_SECURITY)
// turns on at the proxy: bearer-token authentication, tool policy (allow/deny, renames,
// per-caller rules), rate limits and the audit record. A file that does not parse or
// does not validate stops the proxy from starting: fail closed, never open.
package security

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
)

// Duration is a JSON string like "30s".
type Duration struct{ time.Duration }

// UnmarshalJSON reads "30s", "1m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return fmt.Errorf("bad duration %q", s)
	}
	d.Duration = v
	return nil
}

// Settings is the file's shape (the operator renders it from spec.auth, spec.tools and
// spec.audit; proxy/README.md documents it).
type Settings struct {
	Auth       *AuthSettings  `json:"auth"`
	Tools      *ToolSettings  `json:"tools"`
	RateLimits *RateSettings  `json:"rateLimits"`
	Audit      *AuditSettings `json:"audit"`
	TLS        *TLSSettings   `json:"tls"`
}

// AuthSettings: who may call at all.
type AuthSettings struct {
	Mode                 string           `json:"mode"` // Bearer | None
	Issuers              []IssuerSettings `json:"issuers"`
	ClockSkew            *Duration        `json:"clockSkew"`      // default 60s
	JWKSMinRefresh       *Duration        `json:"jwksMinRefresh"` // default 10s
	JWKSMaxAge           *Duration        `json:"jwksMaxAge"`     // default 1h
	Resource             string           `json:"resource"`       // the protected resource's URL (default: from the request)
	AuthorizationServers []string         `json:"authorizationServers"`
}

// IssuerSettings: one trusted issuer.
type IssuerSettings struct {
	Kind         string   `json:"kind"` // oidc (default) | kubernetes
	Issuer       string   `json:"issuer"`
	Audiences    []string `json:"audiences"`
	DiscoveryURL string   `json:"discoveryURL"`
	JWKSURL      string   `json:"jwksURL"`
	CAFile       string   `json:"caFile"`
	TokenFile    string   `json:"tokenFile"`
	GroupsClaim  string   `json:"groupsClaim"`
}

// ToolSettings: which tools exist for whom, under which name.
type ToolSettings struct {
	Allow     []string            `json:"allow"`
	Deny      []string            `json:"deny"`
	Overrides map[string]Override `json:"overrides"`
	Rules     []Rule              `json:"rules"`
}

// Override renames a tool or replaces its description/annotations.
type Override struct {
	Name        string          `json:"name"`
	Description *string         `json:"description"`
	Annotations json.RawMessage `json:"annotations"`
}

// Rule: callers it matches may call the tools it allows (and not those it denies).
// With When, the rule applies to a call only when the CEL expression is true for the
// caller and the tool (cel.go).
type Rule struct {
	Name  string   `json:"name"`
	Match Match    `json:"match"`
	When  string   `json:"when"`
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`

	when cel.Program // compiled When (nil: none)
}

// Match: any listed value matching the caller matches (OR across fields); empty matches every caller.
type Match struct {
	Subjects        []string `json:"subjects"`
	Groups          []string `json:"groups"`
	ServiceAccounts []string `json:"serviceAccounts"` // namespace/name, either may be *
}

// RateSettings: token buckets.
type RateSettings struct {
	PerCaller *Bucket           `json:"perCaller"`
	PerTool   map[string]Bucket `json:"perTool"` // by tool name or pattern; "*" for every tool
}

// Bucket is a rate (calls per second) and a burst.
type Bucket struct {
	PerSecond float64 `json:"perSecond"`
	Burst     float64 `json:"burst"`
}

// AuditSettings: the per-call record.
type AuditSettings struct {
	Enabled          *bool `json:"enabled"` // default true
	IncludeArguments bool  `json:"includeArguments"`
}

// Load reads and validates the file; an error means the proxy must not start.
func Load(path string) (*Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Decode(data)
}

// Decode parses and validates settings. Unknown fields are errors: a typo must not
// silently leave a server open.
func Decode(data []byte) (*Settings, error) {
	var s Settings
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("security settings: %w", err)
	}
	if dec.More() {
		return nil, errors.New("security settings: trailing data after the JSON object")
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("security settings: %w", err)
	}
	return &s, nil
}

func (s *Settings) validate() error {
	var errs []error
	if a := s.Auth; a != nil {
		errs = append(errs, a.validate()...)
	}
	if t := s.Tools; t != nil {
		errs = append(errs, patterns("tools.allow", t.Allow), patterns("tools.deny", t.Deny))
		public := map[string]string{}
		for name, o := range t.Overrides {
			if o.Name != "" {
				if err := toolName("tools.overrides."+name+".name", o.Name); err != nil {
					errs = append(errs, err)
				}
				if other, dup := public[o.Name]; dup {
					errs = append(errs, fmt.Errorf("tools.overrides: %q and %q both renamed to %q", other, name, o.Name))
				}
				public[o.Name] = name
			}
		}
		for i := range t.Rules {
			r := &t.Rules[i]
			where := fmt.Sprintf("tools.rules[%d]", i)
			if r.Name == "" || r.Name == "anonymous" || r.Name == "authenticated" {
				errs = append(errs, fmt.Errorf("%s.name: required, and not anonymous/authenticated (it is the caller_class metric label)", where))
			}
			errs = append(errs, patterns(where+".allow", r.Allow), patterns(where+".deny", r.Deny))
			for _, sa := range r.Match.ServiceAccounts {
				if ns, name, ok := strings.Cut(sa, "/"); !ok || ns == "" || name == "" {
					errs = append(errs, fmt.Errorf("%s.match.serviceAccounts: %q is not namespace/name", where, sa))
				}
			}
			if r.When != "" {
				prog, err := compileWhen(r.When)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s.when (rule %q): %w", where, r.Name, err))
				}
				r.when = prog
			}
		}
	}
	if t := s.TLS; t != nil && (t.CertFile == "" || t.KeyFile == "") {
		errs = append(errs, errors.New("tls: certFile and keyFile are both required"))
	}
	if rl := s.RateLimits; rl != nil {
		if rl.PerCaller != nil {
			errs = append(errs, rl.PerCaller.validate("rateLimits.perCaller"))
		}
		for name, b := range rl.PerTool {
			errs = append(errs, patterns("rateLimits.perTool", []string{name}), b.validate("rateLimits.perTool."+name))
		}
	}
	return errors.Join(errs...)
}

func (a *AuthSettings) validate() []error {
	var errs []error
	switch a.Mode {
	case "None":
		if len(a.Issuers) > 0 {
			errs = append(errs, errors.New("auth.mode None with issuers: say Bearer to require tokens"))
		}
		return errs
	case "Bearer", "":
		a.Mode = "Bearer"
	default:
		return []error{fmt.Errorf("auth.mode must be Bearer or None, not %q", a.Mode)}
	}
	if len(a.Issuers) == 0 {
		errs = append(errs, errors.New("auth.issuers: at least one issuer when auth.mode is Bearer"))
	}
	for i := range a.Issuers {
		is := &a.Issuers[i]
		where := fmt.Sprintf("auth.issuers[%d]", i)
		switch is.Kind {
		case "", "oidc":
			is.Kind = "oidc"
		case "kubernetes":
			// The API server is an OIDC issuer: same path, its own CA and a token to fetch.
			if is.Issuer == "" {
				is.Issuer = "https://kubernetes.default.svc.cluster.local"
			}
			if is.DiscoveryURL == "" && is.JWKSURL == "" {
				is.DiscoveryURL = "https://kubernetes.default.svc/.well-known/openid-configuration"
			}
			if is.CAFile == "" {
				is.CAFile = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
			}
			if is.TokenFile == "" {
				is.TokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
			}
		default:
			errs = append(errs, fmt.Errorf("%s.kind must be oidc or kubernetes, not %q", where, is.Kind))
		}
		if !strings.HasPrefix(is.Issuer, "https://") && !strings.HasPrefix(is.Issuer, "http://") {
			errs = append(errs, fmt.Errorf("%s.issuer must be a URL, not %q", where, is.Issuer))
		}
		if len(is.Audiences) == 0 {
			errs = append(errs, fmt.Errorf("%s.audiences: at least one (a token for another service must not be accepted here)", where))
		}
	}
	return errs
}

func (b Bucket) validate(where string) error {
	if b.PerSecond <= 0 || b.Burst < 1 {
		return fmt.Errorf("%s: perSecond > 0 and burst >= 1", where)
	}
	return nil
}

func patterns(where string, ps []string) error {
	var errs []error
	for _, p := range ps {
		if err := toolName(where, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func toolName(where, s string) error {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return fmt.Errorf("%s: %q is not a tool name or pattern (1-256 bytes of UTF-8)", where, s)
	}
	return nil
}

// AuditOn: the audit record is on unless the file says enabled: false.
func (s *Settings) AuditOn() bool {
	return s.Audit == nil || s.Audit.Enabled == nil || *s.Audit.Enabled
}
