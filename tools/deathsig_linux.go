package tools

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill a tool server when evalctl dies,
// even by kill -9, so no server outlives its run.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
