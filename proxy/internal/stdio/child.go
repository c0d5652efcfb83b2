package stdio

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"mcpops.dev/proxy/internal/jsonrpc"
)

// child is one server process and the requests in flight on it. The bridge numbers the
// requests it writes (so two clients of the shared control child never collide) and
// gives each answer back its client's id.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	wmu   sync.Mutex
	next  atomic.Int64

	mu      sync.Mutex
	pending map[string]*waiter // by bridge id
	stream  chan []byte        // the session's GET stream, if one is open
	done    chan struct{}      // closed when the process exits
	started time.Time
	dropped func()
}

// waiter is one client request awaiting its answer; out carries the answer and, before
// it, the server messages that belong to this request (progress, logs, its requests).
type waiter struct {
	clientID json.RawMessage
	token    string // progress token (raw JSON text), if the request asked for progress
	out      chan []byte
}

func start(command []string, dropped func()) (*child, error) {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stderr = os.Stderr
	// Own process group: stop takes the server's own children too. Pdeathsig: a proxy
	// killed outright (SIGKILL, OOM) does not leave behind a server that ignores the end
	// of its stdin.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin, pending: map[string]*waiter{}, done: make(chan struct{}), started: time.Now(), dropped: dropped}
	go c.read(stdout)
	return c, nil
}

func (c *child) alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *child) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("child stdin: %w", err)
	}
	return nil
}

// read dispatches what the server writes, one message per line. Lines that are not
// JSON-RPC (a server printing to stdout) are skipped, not fatal.
func (c *child) read(stdout io.Reader) {
	defer func() {
		_ = c.cmd.Wait()
		c.mu.Lock()
		for id, w := range c.pending {
			close(w.out)
			delete(c.pending, id)
		}
		c.mu.Unlock()
		close(c.done)
	}()
	br := bufio.NewReaderSize(stdout, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 1 {
			c.dispatch(line)
		}
		if err != nil {
			return
		}
	}
}

func (c *child) dispatch(line []byte) {
	msgs, _, err := jsonrpc.Parse(line)
	if err != nil || len(msgs) != 1 {
		return
	}
	m := msgs[0]
	if m.IsResponse() {
		c.mu.Lock()
		w := c.pending[m.IDKey()]
		delete(c.pending, m.IDKey())
		c.mu.Unlock()
		if w == nil {
			return
		}
		out, err := jsonrpc.WithID(m, w.clientID)
		if err == nil {
			w.out <- out
		}
		close(w.out)
		return
	}
	c.route(&m, line)
}

// route sends a server notification or request where the client will see it: progress
// to the request that asked for it, anything else to the newest request in flight, else
// to the GET stream; with nowhere to go it is dropped (and counted).
func (c *child) route(m *jsonrpc.Message, line []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var target *waiter
	if m.Method == "notifications/progress" {
		var p struct {
			Token json.RawMessage `json:"progressToken"`
		}
		_ = json.Unmarshal(m.Params, &p)
		for _, w := range c.pending {
			if w.token != "" && w.token == string(p.Token) {
				target = w
			}
		}
	}
	if target == nil {
		var newest int64
		for id, w := range c.pending {
			if n, _ := strconv.ParseInt(id, 10, 64); n > newest {
				newest, target = n, w
			}
		}
	}
	msg := append([]byte(nil), bytes.TrimRight(line, "\r\n")...)
	switch {
	case target != nil:
		select {
		case target.out <- msg:
		default:
			c.dropped()
		}
	case c.stream != nil:
		select {
		case c.stream <- msg:
		default:
			c.dropped()
		}
	default:
		c.dropped()
	}
}

// send writes a client request with a bridge id and returns where its answer comes.
func (c *child) send(m jsonrpc.Message) (*waiter, string, error) {
	id := strconv.FormatInt(c.next.Add(1), 10)
	w := &waiter{clientID: m.ID, out: make(chan []byte, 64)}
	if tok := m.ProgressToken(); tok != nil {
		w.token = string(tok)
	}
	body, err := jsonrpc.WithID(m, json.RawMessage(id))
	if err != nil {
		return nil, "", err
	}
	c.mu.Lock()
	c.pending[id] = w
	c.mu.Unlock()
	if err := c.write(body); err != nil {
		c.forget(id)
		return nil, "", err
	}
	return w, id, nil
}

func (c *child) forget(id string) {
	c.mu.Lock()
	delete(c.pending, id)
	c.mu.Unlock()
}

// cancel tells the server a request is abandoned (the client left) and stops waiting.
func (c *child) cancel(id string) {
	c.forget(id)
	note, _ := jsonrpc.Notification("notifications/cancelled", map[string]any{
		"requestId": json.RawMessage(id), "reason": "client disconnected"})
	_ = c.write(note)
}

// call sends one request and waits for its answer (the control child, warm-up pings).
func (c *child) call(ctx context.Context, m jsonrpc.Message) (*jsonrpc.Message, error) {
	w, id, err := c.send(m)
	if err != nil {
		return nil, err
	}
	for {
		select {
		case <-ctx.Done():
			c.cancel(id)
			return nil, ctx.Err()
		case b, ok := <-w.out:
			if !ok {
				return nil, errExited
			}
			msgs, _, err := jsonrpc.Parse(b)
			if err != nil {
				return nil, err
			}
			if msgs[0].IsResponse() {
				return &msgs[0], nil
			}
		}
	}
}

// stop closes stdin (a polite server exits), then SIGTERM, then SIGKILL, to the group.
func (c *child) stop() {
	_ = c.stdin.Close()
	pgid := c.cmd.Process.Pid
	for _, step := range []struct {
		sig  syscall.Signal
		wait time.Duration
	}{{0, 2 * time.Second}, {syscall.SIGTERM, 2 * time.Second}, {syscall.SIGKILL, 5 * time.Second}} {
		if step.sig != 0 {
			_ = syscall.Kill(-pgid, step.sig)
		}
		select {
		case <-c.done:
			return
		case <-time.After(step.wait):
		}
	}
}
