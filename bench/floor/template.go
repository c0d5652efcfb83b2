package main

// The objects one MCPServer gets, rendered from a template that the benchmark made from what
// mcpops itself wrote for a sample server (bench/floor_bench.py). Placeholders:
//
//	{{NAME}} {{NAMESPACE}} {{UID}} {{REVISION}} {{NOW}}  inside any string
//	"{{GENERATION}}"                                      the whole value: the generation
//	"{{RANDOM32}}"                                        the whole value: 32 random bytes, base64
//	annotation mcpops.dev/applied-hash: "{{HASH}}"        mcpops' content hash of the manifest
//
// The content hash is the one stamp() in operator/mcpops/objects/children.py computes (sha256 of
// the manifest as Python's json.dumps(sort_keys=True, separators=(",", ":")) writes it, without
// the annotation), so the objects are byte for byte what mcpops applies.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

const hashAnnotation = "mcpops.dev/applied-hash"

// Template is what one MCPServer gets.
type Template struct {
	Apply  []map[string]any `json:"apply"`  // server-side applied children
	Create []map[string]any `json:"create"` // created once (the session-key Secret)
	Status map[string]any   `json:"status"` // the status, merge-patched once the Deployment is available
	Events []map[string]any `json:"events"` // the Events mcpops posts for such a server
	// The Deployment whose availability makes the server Ready.
	ReadyDeployment string `json:"readyDeployment"`
}

// Server is what the placeholders stand for.
type Server struct {
	Name, Namespace, UID, Revision string
	Generation                     int64
}

func loadTemplate(path string) (*Template, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers keep their text, so the content hash sees what Python saw
	var t Template
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &t, nil
}

func (s Server) subst(v any, now string) any {
	switch x := v.(type) {
	case string:
		switch x {
		case "{{GENERATION}}":
			return json.Number(strconv.FormatInt(s.Generation, 10))
		case "{{RANDOM32}}":
			b := make([]byte, 32)
			_, _ = rand.Read(b)
			return base64.StdEncoding.EncodeToString(b)
		}
		return strings.NewReplacer("{{NAME}}", s.Name, "{{NAMESPACE}}", s.Namespace,
			"{{UID}}", s.UID, "{{REVISION}}", s.Revision, "{{NOW}}", now).Replace(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[s.subst(k, now).(string)] = s.subst(e, now)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = s.subst(e, now)
		}
		return out
	}
	return v
}

// Rendered is one server's objects.
type Rendered struct {
	Apply, Create, Events []map[string]any
	Status                map[string]any
	ReadyDeployment       string
}

func (t *Template) Render(s Server) Rendered {
	now := time.Now().UTC().Format("2006-01-02T15:04:05Z")
	objs := func(in []map[string]any) []map[string]any {
		out := make([]map[string]any, len(in))
		for i, o := range in {
			out[i] = stamp(s.subst(o, now).(map[string]any))
		}
		return out
	}
	return Rendered{
		Apply:           objs(t.Apply),
		Create:          objs(t.Create),
		Events:          objs(t.Events),
		Status:          s.subst(t.Status, now).(map[string]any),
		ReadyDeployment: s.subst(t.ReadyDeployment, now).(string),
	}
}

// stamp puts mcpops' content hash where the template asks for it.
func stamp(m map[string]any) map[string]any {
	meta, _ := m["metadata"].(map[string]any)
	notes, _ := meta["annotations"].(map[string]any)
	if notes == nil || notes[hashAnnotation] != "{{HASH}}" {
		return m
	}
	delete(notes, hashAnnotation)
	var buf bytes.Buffer
	canonical(&buf, m)
	sum := sha256.Sum256(buf.Bytes())
	notes[hashAnnotation] = hex.EncodeToString(sum[:])[:16]
	return m
}

// canonical writes v as Python's json.dumps(v, sort_keys=True, separators=(",", ":")) does
// (ensure_ascii: every non-ASCII character as \uXXXX, surrogate pairs beyond the BMP).
func canonical(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case json.Number:
		buf.WriteString(x.String())
	case string:
		pyString(buf, x)
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			canonical(buf, e)
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys) // Python sorts by code point; equal to byte order for UTF-8
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			pyString(buf, k)
			buf.WriteByte(':')
			canonical(buf, x[k])
		}
		buf.WriteByte('}')
	default:
		panic(fmt.Sprintf("canonical: unexpected %T", v))
	}
}

func pyString(buf *bytes.Buffer, s string) {
	buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r < 0x20 || (r >= 0x7f && r <= 0xffff):
			fmt.Fprintf(buf, `\u%04x`, r)
		case r > 0xffff:
			r -= 0x10000
			fmt.Fprintf(buf, `\u%04x\u%04x`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
		default:
			buf.WriteRune(r)
		}
	}
	buf.WriteByte('"')
}
