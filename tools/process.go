package tools

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// process is a stdio tool server's child process. Its stdin and stdout are
// plain pipes that this package owns (not exec's), so that waiting for the
// process never closes a pipe that the MCP session is still reading.
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File // the write end of the child's stdin
	stdout *os.File // the read end of the child's stdout
	stderr *stderrSink
	exited chan struct{} // closed when Wait has returned
	err    error         // Wait's result, once exited is closed
}

// startProcess starts the server's command with the server's env added to
// a minimal inherited environment (inheritedEnv).
func startProcess(spec Server, stderr *stderrSink) (*process, error) {
	cmd := exec.Command(spec.Command[0], spec.Command[1:]...)
	cmd.Env = inheritedEnv()
	setDeathSignal(cmd)
	keys := make([]string, 0, len(spec.Env))
	for k := range spec.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+spec.Env[k])
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	// A grandchild holding stderr open must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			f.Close()
		}
		return nil, err
	}
	inR.Close()
	outW.Close()
	p := &process{cmd: cmd, stdin: inW, stdout: outR, stderr: stderr, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		stderr.flush()
		close(p.exited)
	}()
	return p, nil
}

// hasExited reports whether the process has ended.
func (p *process) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// waitExit waits up to d for the process to end.
func (p *process) waitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.exited:
		return true
	case <-t.C:
		return false
	}
}

// stop closes the child's stdin (the MCP way to ask a stdio server to
// leave), gives it grace to exit, then kills it, and waits until it is gone.
func (p *process) stop(grace time.Duration) {
	p.stdin.Close()
	if !p.waitExit(grace) {
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.stdout.Close()
}

// status says how the process ended, with the tail of its stderr, for
// error messages.
func (p *process) status() string {
	var s string
	switch {
	case !p.hasExited():
		s = "still running"
	case p.err == nil:
		s = "exited with status 0"
	default:
		var ee *exec.ExitError
		if errors.As(p.err, &ee) {
			s = ee.Error() // "exit status 3", "signal: killed"
		} else {
			s = p.err.Error()
		}
	}
	if tail := p.stderr.tail(); tail != "" {
		s += "; stderr: " + tail
	}
	return s
}

// Bounds of the stderr kept for error messages.
const (
	tailLines = 8
	tailBytes = 1 << 10
	maxLine   = 4 << 10
)

// stderrSink receives a server process's stderr: it copies whole lines,
// prefixed with the server's name and redacted, to out, and keeps the last
// few for error messages.
type stderrSink struct {
	prefix string
	out    io.Writer   // nil: lines are only kept
	outMu  *sync.Mutex // shared by the servers writing to out
	redact func(string) string

	mu      sync.Mutex
	partial []byte
	last    []string
}

func (s *stderrSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(b)
	for len(b) > 0 {
		i := strings.IndexByte(string(b), '\n')
		if i < 0 {
			s.partial = append(s.partial, b...)
			if len(s.partial) >= maxLine {
				s.line(string(s.partial))
				s.partial = s.partial[:0]
			}
			break
		}
		s.partial = append(s.partial, b[:i]...)
		s.line(string(s.partial))
		s.partial = s.partial[:0]
		b = b[i+1:]
	}
	return n, nil
}

// line takes one line of stderr; s.mu is held.
func (s *stderrSink) line(l string) {
	l = strings.TrimRight(l, "\r")
	if strings.TrimSpace(l) == "" {
		return
	}
	l = s.redact(plainText(l))
	if len(s.last) == tailLines {
		s.last = append(s.last[:0], s.last[1:]...)
	}
	s.last = append(s.last, l)
	if s.out != nil {
		s.outMu.Lock()
		fmt.Fprintf(s.out, "%s%s\n", s.prefix, l)
		s.outMu.Unlock()
	}
}

// flush takes the last line when it has no newline.
func (s *stderrSink) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.partial) > 0 {
		s.line(string(s.partial))
		s.partial = s.partial[:0]
	}
}

// tail returns the last lines of stderr on one line, at most tailBytes.
func (s *stderrSink) tail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := strings.Join(s.last, " | ")
	if len(t) > tailBytes {
		cut := len(t) - tailBytes
		for cut < len(t) && t[cut]&0xC0 == 0x80 { // a UTF-8 continuation byte
			cut++
		}
		t = "…" + t[cut:]
	}
	return t
}

// inheritedVars are the variables a tool server inherits from evalctl, as
// the official MCP SDKs' default environments do: enough to find programs
// and run them (npx, python), never the model API keys or other secrets in
// evalctl's environment. Anything else a server needs goes in its env:.
var inheritedVars = []string{"PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ",
	"SYSTEMROOT", "SystemRoot", "COMSPEC", "PATHEXT", "APPDATA", "LOCALAPPDATA", "USERPROFILE", "TEMP", "TMP", "WINDIR",
	"NODE_PATH", "NPM_CONFIG_CACHE", "npm_config_cache", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
	"EVALCTL_MCP_SERVERS", "GOCOVERDIR"}

func inheritedEnv() []string {
	var env []string
	for _, k := range inheritedVars {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// plainText drops terminal control sequences and other control characters
// from a server's stderr line: it is relayed to a terminal, and a server
// must not retitle it, move its cursor or hide text.
func plainText(l string) string {
	l = ansiSeq.ReplaceAllString(l, "")
	return strings.Map(func(r rune) rune {
		if r == '\t' || (r >= 0x20 && r != 0x7f && !(r >= 0x80 && r < 0xa0)) {
			return r
		}
		return -1
	}, l)
}

// ansiSeq matches CSI and OSC escape sequences.
var ansiSeq = regexp.MustCompile(`\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])`)
