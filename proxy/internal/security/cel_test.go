package security

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"mcpops.dev/proxy/internal/auth"
)

func rules(t *testing.T, rs string) *Policy {
	t.Helper()
	return NewPolicy(mustDecode(t, `{"tools":{"rules":[`+rs+`]}}`).Tools)
}

func TestWhenCompileErrorsNameTheRule(t *testing.T) {
	cases := map[string]string{
		`tool.startsWith(`:                       "Syntax error",
		`tool + 1`:                               "found no matching overload",
		`tool`:                                   "not bool",
		`claims.groups.size()`:                   "not bool",
		`nosuchvar == "x"`:                       "undeclared reference",
		`   `:                                    "empty expression",
		strings.Repeat("true && ", 600) + "true": "over 4096 bytes",
	}
	for expr, want := range cases {
		q, _ := json.Marshal(expr)
		_, err := Decode([]byte(`{"tools":{"rules":[{"name":"ok","allow":["*"]},{"name":"sre-read","when":` + string(q) + `}]}}`))
		if err == nil {
			t.Errorf("%q: accepted", expr)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, `tools.rules[1].when (rule "sre-read")`) || !strings.Contains(msg, want) {
			t.Errorf("%q: %v (want %q)", expr, err, want)
		}
	}
}

func TestWhenEvaluatesCallerAndTool(t *testing.T) {
	p := rules(t, `
		{"name":"sre","when":"claims.groups.exists(g, g == \"sre\") && tool.startsWith(\"read_\")"},
		{"name":"bots","match":{"serviceAccounts":["agents/*"]},"when":"serviceAccount.name == \"bot\" && argumentsBytes <= 10","deny":["rm"]},
		{"name":"named","when":"sub == \"alice\" && \"dev\" in groups && !anonymous && claims.level >= 3"}`)
	sre := &auth.Caller{Subject: "bob", Claims: map[string]any{"groups": []any{"sre"}}}
	bot := &auth.Caller{Subject: "system:serviceaccount:agents:bot", ServiceAccount: "agents/bot"}
	alice := &auth.Caller{Subject: "alice", Groups: []string{"dev"}, Claims: map[string]any{"level": float64(3)}}
	checks := []struct {
		c    *auth.Caller
		call Call
		want bool
		why  string
	}{
		{sre, Call{Tool: "read_file"}, true, ""},
		// The rule does not apply to this tool; no later rule applies to bob.
		{sre, Call{Tool: "write_file"}, false, "no tools.rules entry matches"},
		{bot, Call{Tool: "echo", ArgumentsBytes: 10}, true, ""},
		{bot, Call{Tool: "echo", ArgumentsBytes: 11}, false, "no tools.rules entry matches"},
		{bot, Call{Tool: "rm"}, false, "denied by rule bots"},
		{alice, Call{Tool: "anything"}, true, ""},
		{&auth.Caller{Subject: "alice", Groups: []string{"dev"}, Claims: map[string]any{"level": float64(2)}}, Call{Tool: "x"}, false, "no tools.rules entry"},
	}
	for _, c := range checks {
		ok, why := p.Allowed(c.c, c.call)
		if ok != c.want || !strings.Contains(why, c.why) {
			t.Errorf("%s calling %+v: %v (%s)", c.c.Subject, c.call, ok, why)
		}
	}
}

// A claim of another type than the expression assumed, or a missing one, is an
// evaluation error: the call is refused, and a later, wider rule is not consulted.
func TestWhenErrorRefusesWithoutFallingThrough(t *testing.T) {
	p := rules(t, `
		{"name":"sre","when":"claims.groups.exists(g, g == \"sre\")"},
		{"name":"everyone","allow":["*"]}`)
	for name, claims := range map[string]map[string]any{
		"groups is a string": {"groups": "sre"},
		"groups is missing":  {},
		"groups is a number": {"groups": 1.0},
	} {
		ok, why := p.Allowed(&auth.Caller{Subject: "eve", Claims: claims}, Call{Tool: "echo"})
		if ok || !strings.Contains(why, "rule sre: when failed") {
			t.Errorf("%s: %v (%s)", name, ok, why)
		}
	}
	// Look-alike values are other values: the rule does not apply, the next one does.
	cyr := &auth.Caller{Subject: "eve", Claims: map[string]any{"groups": []any{"\u0455re"}}}
	if ok, why := p.Allowed(cyr, Call{Tool: "echo"}); !ok {
		t.Errorf("look-alike: %s", why)
	}
	if r, _ := p.applying(cyr, Call{Tool: "echo"}); r == nil || r.Name != "everyone" {
		t.Errorf("look-alike applied %v", r)
	}
}

func TestWhenCostLimit(t *testing.T) {
	p := rules(t, `{"name":"heavy","when":"claims.groups.all(a, claims.groups.all(b, a != b || a == b))"}`)
	few := make([]any, 10)
	many := make([]any, 500) // 250,000 inner steps: far past the limit
	for i := range many {
		many[i] = fmt.Sprint("g", i)
		if i < len(few) {
			few[i] = many[i]
		}
	}
	if ok, why := p.Allowed(&auth.Caller{Subject: "a", Claims: map[string]any{"groups": few}}, Call{Tool: "t"}); !ok {
		t.Fatalf("small input: %s", why)
	}
	ok, why := p.Allowed(&auth.Caller{Subject: "a", Claims: map[string]any{"groups": many}}, Call{Tool: "t"})
	if ok || !strings.Contains(why, "cost limit") {
		t.Fatalf("large input: %v (%s)", ok, why)
	}
}

func TestWhenNoMatchAndAnonymous(t *testing.T) {
	p := rules(t, `{"name":"sa","when":"serviceAccount.namespace == \"agents\""}`)
	for _, c := range []*auth.Caller{nil, {Anonymous: true}, {Subject: "bob"}, {Subject: "x", ServiceAccount: "other/bot"}} {
		if ok, why := p.Allowed(c, Call{Tool: "echo"}); ok || !strings.Contains(why, "no tools.rules entry") {
			t.Errorf("%+v: %v (%s)", c, ok, why)
		}
	}
	if ok, _ := p.Allowed(&auth.Caller{Subject: "x", ServiceAccount: "agents/bot"}, Call{Tool: "echo"}); !ok {
		t.Error("agents/bot refused")
	}
	// The class label is the caller's: rules with a when (which depends on the tool) do not name it.
	p = rules(t, `{"name":"sa","when":"serviceAccount.namespace == \"agents\""},{"name":"all"}`)
	if c := p.Class(&auth.Caller{Subject: "x", ServiceAccount: "agents/bot"}); c != "all" {
		t.Errorf("class %s", c)
	}
}

// The README's settings example (rules with a when included) is a file the proxy loads.
func TestReadmeExampleLoads(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(readme), "## Security settings")
	_, rest, _ = strings.Cut(rest, "```json\n")
	example, _, _ := strings.Cut(rest, "```")
	s, err := Decode([]byte(example))
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	p := NewPolicy(s.Tools)
	sre := &auth.Caller{Subject: "dana", Groups: []string{"sre"}}
	if ok, why := p.Allowed(sre, Call{Tool: "search_code", ArgumentsBytes: 100}); !ok {
		t.Errorf("sre-read: %s", why)
	}
	if ok, _ := p.Allowed(sre, Call{Tool: "get_issue"}); ok {
		t.Error("sre-read admits get_issue")
	}
}

// The policy's own cost per tools/call: `go test -run - -bench Allowed ./internal/security/`.
func BenchmarkAllowed(b *testing.B) {
	caller := &auth.Caller{Subject: "alice", Groups: []string{"dev", "sre", "mcp-users"},
		Claims: map[string]any{"groups": []any{"dev", "sre", "mcp-users"}, "tenant": "acme"}}
	for _, c := range []struct{ name, rule string }{
		{"matcher", `{"name":"sre","match":{"groups":["sre"]},"allow":["read_*"]}`},
		{"when", `{"name":"sre","when":"claims.groups.exists(g, g == \"sre\") && tool.startsWith(\"read_\") && argumentsBytes < 4096"}`},
	} {
		p := NewPolicy(mustDecode(b, `{"tools":{"rules":[`+c.rule+`]}}`).Tools)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if ok, why := p.Allowed(caller, Call{Tool: "read_file", ArgumentsBytes: 100}); !ok {
					b.Fatal(why)
				}
			}
		})
	}
}

func mustDecode(tb testing.TB, settings string) *Settings {
	tb.Helper()
	s, err := Decode([]byte(settings))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
