//go:build !linux

package cli

import "syscall"

// childProcAttr puts a rank in its own process group (the terminal's Ctrl-C
// then reaches only the launcher, which passes it on exactly once).
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
