//go:build unix

package cmd

import "syscall"

// detached puts the queue drain in a session of its own, so it outlives
// this run and never gets the terminal's signals or reads from it.
func detached() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
