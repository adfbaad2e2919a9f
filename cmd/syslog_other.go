//go:build windows || plan9

package cmd

import "errors"

// writeSyslog fails: there is no syslog daemon here; log = "FILE" works.
func writeSyslog(string) error {
	return errors.New("no syslog on this system: set log to a file path")
}
