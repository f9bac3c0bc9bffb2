package main

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// plugin is the running binary.
type plugin struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *output
	stderr *lineLog
	exited chan struct{}
}

func startPlugin(binary, conf string, copyTo io.Writer) (*plugin, error) {
	cmd := exec.Command(binary, "-config", conf, "-poll_interval", "1s")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe() // the shim stops when its stdin closes
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w (make build first)", err)
	}
	p := &plugin{cmd: cmd, stdin: stdin, out: newOutput(), stderr: newLineLog("Listening for log4net datagrams"), exited: make(chan struct{})}
	var out io.Reader = stdout
	if copyTo != nil {
		out = io.TeeReader(stdout, copyTo)
	}
	go p.out.consume(out)
	go p.stderr.consume(stderr)
	go func() { cmd.Wait(); close(p.exited) }() //nolint:errcheck // alive() tells
	select {
	case <-p.stderr.ready:
		return p, nil
	case <-p.exited:
		return nil, fmt.Errorf("the plugin exited at start: %s", p.stderrTail())
	case <-time.After(30 * time.Second):
		p.stop()
		return nil, errors.New("the plugin did not start listening within 30 s")
	}
}

func (p *plugin) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *plugin) stop() {
	p.stdin.Close()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.cmd.Process.Kill() //nolint:errcheck // Windows has no SIGTERM
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill() //nolint:errcheck // best effort
	}
}

func (p *plugin) stderrTail() string { return strings.Join(p.stderr.tail(), "\n") }

// errorLines are the plugin's E! log lines.
func (p *plugin) errorLines() []string {
	var out []string
	for _, l := range p.stderr.tail() {
		if strings.Contains(l, "E! ") {
			out = append(out, l)
		}
	}
	return out
}
