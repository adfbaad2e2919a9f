//go:build !unix

package cmd

import "syscall"

// detached has nothing to add where there are no sessions: the drain is
// started with its streams on the null device and released.
func detached() *syscall.SysProcAttr { return nil }
