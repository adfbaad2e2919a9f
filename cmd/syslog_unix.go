//go:build !windows && !plan9

package cmd

import "log/syslog"

// writeSyslog sends one line to the local syslog daemon, facility mail.
func writeSyslog(line string) error {
	w, err := syslog.New(syslog.LOG_MAIL|syslog.LOG_INFO, "mailout")
	if err != nil {
		return err
	}
	defer w.Close()
	return w.Info(line)
}
