package cmd

import "github.com/urfave/cli/v2"

// newProfileCommand is `mailout profile`.
func (r *runner) newProfileCommand() *cli.Command {
	return &cli.Command{Name: "profile", Usage: "list, show and test profiles; manage their passwords", Hidden: true}
}
