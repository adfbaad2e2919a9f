package cmd

import (
	"strings"

	"github.com/urfave/cli/v2"
)

// arrange reorders argv so urfave/cli sees every flag of the command that
// runs, wherever the user put it: GNU mailutils permutes, and
// `mailout ops@example.com -s hi` must not mail "-s" and "hi". It also
// rewrites short aliases to their long names, since urfave/cli refuses
// `-a x --attach y` in one call. The part after exec's `--` is returned
// apart, untouched: it is the command to run.
func arrange(app *cli.App, args []string) (out []string, tail []string, hasTail bool) {
	out = []string{args[0]}
	rest := args[1:]
	flags, cmds := app.Flags, app.Commands
	for {
		i := firstPositional(rest, flags)
		if i >= 0 && rest[i] != "--" {
			if c := findCommand(cmds, rest[i]); c != nil {
				out = append(out, canonical(rest[:i], flags)...)
				out = append(out, rest[i])
				rest = rest[i+1:]
				flags, cmds = c.Flags, c.Subcommands
				if c.Name == "exec" {
					if j := indexOf(rest, "--"); j >= 0 {
						tail, hasTail = rest[j+1:], true
						rest = rest[:j]
					}
				}
				continue
			}
		}
		return append(out, permute(rest, flags)...), tail, hasTail
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// flagSpec finds the flag a token names and whether it takes a value.
func flagSpec(tok string, flags []cli.Flag) (f cli.Flag, inline bool) {
	name := strings.TrimLeft(tok, "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		name, inline = name[:i], true
	}
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f, inline
			}
		}
	}
	return nil, inline
}

func takesValue(f cli.Flag) bool {
	if dg, ok := f.(cli.DocGenerationFlag); ok {
		return dg.TakesValue()
	}
	return false
}

func isFlag(tok string) bool { return len(tok) > 1 && tok[0] == '-' }

// firstPositional returns the index of the first argument that is neither a
// flag nor a flag's value, or -1.
func firstPositional(args []string, flags []cli.Flag) int {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !isFlag(a) {
			return i
		}
		if f, inline := flagSpec(a, flags); f != nil && takesValue(f) && !inline {
			i++
		}
	}
	return -1
}

// permute puts flags first and positionals after a "--".
func permute(args []string, flags []cli.Flag) []string {
	var fl, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if !isFlag(a) {
			pos = append(pos, a)
			continue
		}
		f, inline := flagSpec(a, flags)
		fl = append(fl, canonicalOne(a, f))
		if f != nil && takesValue(f) && !inline && i+1 < len(args) {
			i++
			fl = append(fl, args[i])
		}
	}
	if len(pos) > 0 {
		fl = append(fl, "--")
		fl = append(fl, pos...)
	}
	return fl
}

func canonical(args []string, flags []cli.Flag) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if isFlag(a) {
			f, _ := flagSpec(a, flags)
			out[i] = canonicalOne(a, f)
		}
	}
	return out
}

// canonicalOne spells a flag by its first (long) name.
func canonicalOne(tok string, f cli.Flag) string {
	if f == nil {
		return tok
	}
	val := ""
	if i := strings.IndexByte(tok, '='); i >= 0 {
		val = tok[i:]
	}
	return "--" + f.Names()[0] + val
}

// globalBool reads a global flag wherever on the command line it was given:
// every command repeats the global flags, so the nearest context that set
// it wins.
func globalBool(c *cli.Context, name string) bool {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet(name) {
			return ctx.Bool(name)
		}
	}
	return false
}

// globalString is globalBool for string flags; env-var defaults still apply.
func globalString(c *cli.Context, name string) string {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet(name) {
			return ctx.String(name)
		}
	}
	return c.String(name)
}
