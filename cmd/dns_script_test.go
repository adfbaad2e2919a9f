package cmd_test

import "github.com/rogpeppe/go-internal/testscript"

// cmdDNSD is the script command "dnsd NAME 'RR'...".
func cmdDNSD(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("dnsd: not yet")
}
