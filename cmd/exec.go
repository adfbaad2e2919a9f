package cmd

import "github.com/urfave/cli/v2"

// newExecCommand is `mailout exec`.
func (r *runner) newExecCommand() *cli.Command {
	return &cli.Command{Name: "exec", Usage: "run a command and mail its output when it fails", Hidden: true}
}
