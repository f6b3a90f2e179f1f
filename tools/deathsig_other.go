//go:build !linux

package tools

import "os/exec"

// setDeathSignal does nothing outside Linux: a server there ends when its
// stdin closes, as MCP servers do, or is killed by Close.
func setDeathSignal(cmd *exec.Cmd) {}
