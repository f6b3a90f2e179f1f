package tools

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// stdioTransport speaks MCP over a server process's pipes: newline-delimited
// JSON-RPC whose lines evalctl bounds itself (the SDK's own bound, 16 MiB,
// fails with an error that cannot be told apart). It tells its conn when
// reading stdout failed, since the SDK hands that error to the call in
// flight as if it were the call's own.
type stdioTransport struct {
	c   *conn
	in  *lineLimiter
	out io.WriteCloser
}

func (t *stdioTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	mc, err := (&mcp.IOTransport{Reader: t.in, Writer: t.out, MaxLineLength: -1}).Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &watchedConn{Connection: mc, c: t.c}, nil
}

// watchedConn records the error that ended the reading of a connection.
type watchedConn struct {
	mcp.Connection
	c *conn
}

func (w *watchedConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	m, err := w.Connection.Read(ctx)
	if err != nil && ctx.Err() == nil {
		w.c.readFailed(err)
	}
	return m, err
}

// readFailed records the first error reading the server's stdout.
func (c *conn) readFailed(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr == nil {
		c.readErr = err
	}
}

// stdoutBroken returns why the server's stdout stopped being MCP while the
// server may still be running (a line that is not JSON-RPC, one too long),
// or nil: also when it merely closed stdout, which is how a process ends.
func (c *conn) stdoutBroken() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := c.readErr
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// brokenStdout says, for messages, what a server did to its stdout.
func brokenStdout(err error) string {
	var long *lineTooLongError
	if errors.As(err, &long) {
		return long.Error()
	}
	return fmt.Sprintf("it wrote a line on stdout that is not JSON-RPC (%v): a stdio server must write only MCP messages on stdout, and its logs on stderr", err)
}

// lineLimiter reads a server's stdout and fails once a line is longer than
// max bytes.
type lineLimiter struct {
	r    io.ReadCloser
	max  int
	line int   // bytes of the current line read so far
	err  error // once a line was too long
}

func (l *lineLimiter) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	for i, b := range p[:n] {
		if b == '\n' {
			l.line = 0
			continue
		}
		if l.line++; l.line > l.max {
			// Not a byte more: the decoder must not complete the message.
			l.err = &lineTooLongError{l.max}
			return i, l.err
		}
	}
	return n, err
}

func (l *lineLimiter) Close() error { return l.r.Close() }

// lineTooLongError is a message on a stdio server's stdout longer than
// evalctl reads.
type lineTooLongError struct{ max int }

func (e *lineTooLongError) Error() string {
	return fmt.Sprintf("it sent a message longer than %s on stdout, the most evalctl reads", byteSize(e.max))
}

// byteSize writes n bytes for people: 64 KiB, 64 MiB, 1000 bytes.
func byteSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
