// Package tools is the tool side of evalctl's agents: it starts the MCP tool
// servers a run names (a command spoken to over stdio, or a URL spoken to
// over streamable HTTP), lists their tools once, and calls them for the
// runner's tool loop as an eval.Toolbox.
//
// A call never fails the run by itself: every outcome is an eval.ToolResult
// whose ErrKind is one of trace's tool failure kinds. A stdio server that
// crashes is restarted once (an HTTP server whose connection fails is
// reconnected to once): the calls that hit the crash get trace.ToolCrashed,
// and later calls go to the new process. If it crashes again, or will not
// start again, the calls that hit that and every later call get
// trace.ToolUnavailable, and the runner fails those cells.
//
// Stdio servers are child processes with pipes of this package's own rather
// than the SDK's CommandTransport, so that their exit status and the tail of
// their stderr can be reported without a second Wait.
// Results are cut at a size limit, run through the redactor, and, when a
// Cache is given, kept so that a re-run or a resume calls no tool twice.
package tools
