package cmd

import (
	"fmt"
	"runtime/debug"
)

// buildVersion reports the version, the commit and the Go version, from
// -ldflags when set and from the build info otherwise.
func buildVersion() string {
	v, commit, dirty, gover := Version, "", false, ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		gover = bi.GoVersion
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if commit == "" {
		commit = "unknown"
	} else if dirty {
		commit += "-dirty"
	}
	return fmt.Sprintf("%s (commit %s, %s)", v, commit, gover)
}
