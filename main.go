// Command mailout sends mail from scripts, cron and the command line.
package main

import (
	"os"

	"mailout/cmd"
)

func main() { os.Exit(cmd.Main(os.Args, cmd.SystemEnv())) }
