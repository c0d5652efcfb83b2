// Command pause is the sandbox ("pause") container of the local node's pods: it holds the
// pod's namespaces open and does nothing else. PID 1 of the sandbox, so it also reaps the
// zombies of processes that share its PID namespace, and exits on SIGINT/SIGTERM.
//
// Built static (CGO_ENABLED=0) by hack/images.py into an image FROM scratch, because no
// registry is reachable here to pull registry.k8s.io/pause.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("mcpops pause")
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "warning: pause should be PID 1")
	}
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
