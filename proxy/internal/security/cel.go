package security

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/interpreter"

	"mcpops.dev/proxy/internal/auth"
)

// A rule's `when`: a CEL expression over the caller and the tool, compiled once when the
// settings load (a bad one refuses the file) and evaluated per tools/call and per
// tools/list element, within a cost limit.

// WhenCostLimit bounds one evaluation (CEL's runtime cost units: about one per operation,
// per list element a comprehension visits). Past it the evaluation fails, and a failed
// evaluation refuses the call: a token cannot make the proxy spend unbounded time.
const WhenCostLimit = 10000

// whenMaxLen bounds the expression's text (the parser's work and the settings' size).
const whenMaxLen = 4096

// The variables an expression sees.
const (
	varSub            = "sub"            // string: the token's subject ("" anonymous)
	varGroups         = "groups"         // list(string): the caller's groups (groupsClaim, ServiceAccount groups)
	varServiceAccount = "serviceAccount" // map: {"namespace": ..., "name": ...}, empty strings when not a ServiceAccount
	varAnonymous      = "anonymous"      // bool: no token (auth.mode None)
	varClaims         = "claims"         // map(string, dyn): every claim of the verified token, as JSON decoded them
	varTool           = "tool"           // string: the server's tool name
	varArgBytes       = "argumentsBytes" // int: size of tools/call params.arguments in bytes (0 in tools/list)
)

var (
	celEnvOnce sync.Once
	celEnv     *cel.Env
	errCelEnv  error
)

// whenEnv is built on first use: settings without a `when` never pay for it.
func whenEnv() (*cel.Env, error) {
	celEnvOnce.Do(func() {
		celEnv, errCelEnv = cel.NewEnv(
			cel.Variable(varSub, cel.StringType),
			cel.Variable(varGroups, cel.ListType(cel.StringType)),
			cel.Variable(varServiceAccount, cel.MapType(cel.StringType, cel.StringType)),
			cel.Variable(varAnonymous, cel.BoolType),
			cel.Variable(varClaims, cel.MapType(cel.StringType, cel.DynType)),
			cel.Variable(varTool, cel.StringType),
			cel.Variable(varArgBytes, cel.IntType),
		)
	})
	return celEnv, errCelEnv
}

// compileWhen type-checks an expression that must give a bool.
func compileWhen(expr string) (cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New("empty expression (leave when out instead)")
	}
	if len(expr) > whenMaxLen {
		return nil, fmt.Errorf("expression over %d bytes", whenMaxLen)
	}
	env, err := whenEnv()
	if err != nil {
		return nil, err
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("gives %s, not bool", ast.OutputType())
	}
	// OptOptimize: constant parts (a regular expression in matches()) are prepared once, here.
	return env.Program(ast, cel.CostLimit(WhenCostLimit), cel.EvalOptions(cel.OptOptimize))
}

// Call is what a rule's `when` judges: the server's tool name and, for tools/call, the
// size of the arguments.
type Call struct {
	Tool           string
	ArgumentsBytes int
}

// whenVars is the activation for one evaluation: names resolved on demand, so a call
// pays only for the variables its expression reads.
type whenVars struct {
	c    *auth.Caller
	call Call
}

var (
	noGroups = []string{}
	noClaims = map[string]any{}
	noSA     = map[string]string{"namespace": "", "name": ""}
)

func (v whenVars) ResolveName(name string) (any, bool) {
	known := v.c != nil && !v.c.Anonymous
	switch name {
	case varTool:
		return v.call.Tool, true
	case varArgBytes:
		return int64(v.call.ArgumentsBytes), true
	case varAnonymous:
		return !known, true
	case varSub:
		if known {
			return v.c.Subject, true
		}
		return "", true
	case varGroups:
		if known && v.c.Groups != nil {
			return v.c.Groups, true
		}
		return noGroups, true
	case varClaims:
		if known && v.c.Claims != nil {
			return v.c.Claims, true
		}
		return noClaims, true
	case varServiceAccount:
		if known {
			if ns, n, ok := strings.Cut(v.c.ServiceAccount, "/"); ok {
				return map[string]string{"namespace": ns, "name": n}, true
			}
		}
		return noSA, true
	}
	return nil, false
}

func (whenVars) Parent() interpreter.Activation { return nil }

// evalWhen runs a compiled expression; an error (a claim of another type than the
// expression assumed, a missing key, the cost limit) is returned, never read as false.
func evalWhen(prog cel.Program, c *auth.Caller, call Call) (bool, error) {
	out, _, err := prog.Eval(whenVars{c, call})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("gave %v, not a bool", out.Value())
	}
	return b, nil
}
