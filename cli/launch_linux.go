package cli

import "syscall"

// childProcAttr puts a rank in its own process group (the terminal's Ctrl-C
// then reaches only the launcher, which passes it on exactly once) and has
// the kernel kill it if the launcher dies, so that no rank outlives it.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
