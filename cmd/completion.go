package cmd

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"mailout/profiles"
	"mailout/spool"
)

// completionInstall shows how to install each script; --help and the man
// page both print it.
var completionInstall = []string{
	`mailout completion bash > ~/.local/share/bash-completion/completions/mailout`,
	`mailout completion zsh > "${fpath[1]}/_mailout"   # or: source <(mailout completion zsh) after compinit`,
	`mailout completion fish > ~/.config/fish/completions/mailout.fish`,
}

// completeFiles, as the only line of __complete's answer, asks the shell
// to complete file names itself.
const completeFiles = ":files"

// newCompletionCommand is `mailout completion bash|zsh|fish`. The scripts
// are thin: on every TAB they ask the hidden `completion __complete`,
// which walks the same command definitions --help shows, so completion
// knows every command and flag without a copy in shell.
func (r *runner) newCompletionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script for bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `The script completes commands, flags, their values, profile names (from the
configuration) and queue IDs (from the spool) by asking mailout itself.

Examples:
` + strings.Join(completionInstall, "\n"),
		HideHelpCommand: true,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return hinted(usageErrorf("completion needs one shell: bash, zsh or fish"), "see 'mailout completion --help'")
			}
			script, ok := completionScripts[c.Args().First()]
			if !ok {
				return hinted(usageErrorf("completion: unknown shell %q: want bash, zsh or fish", c.Args().First()), "see 'mailout completion --help'")
			}
			_, err := fmt.Fprint(r.env.Stdout, script)
			if err != nil {
				return withCode(exitIOErr, fmt.Errorf("write completion script: %w", err))
			}
			return nil
		},
		Subcommands: []*cli.Command{{
			Name:   "__complete",
			Usage:  "print the candidates for the last of WORDS, one per line",
			Hidden: true,
			Action: func(c *cli.Context) error {
				for _, s := range r.complete(r.newApp(), c.Args().Slice()) {
					fmt.Fprintln(r.env.Stdout, s)
				}
				return nil
			},
		}},
	}
}

// complete returns the candidates for the last of words, the command line
// from the program name to the word under the cursor (maybe empty). A
// candidate may carry a description after a tab; the single candidate
// completeFiles asks for file names. Errors mean no candidates: a TAB
// must never print an error into the user's command line.
func (r *runner) complete(app *cli.App, words []string) []string {
	words = joinEquals(words)
	if len(words) < 2 {
		return nil
	}
	cur, done := words[len(words)-1], words[1:len(words)-1]
	path := app.Name
	flags, cmds := app.Flags, app.Commands
	nargs, dashdash := 0, false
	var pending cli.Flag // the flag the next word is the value of
	for _, w := range done {
		switch {
		case pending != nil:
			pending = nil
		case dashdash:
			nargs++
		case w == "--":
			dashdash = true
		case isFlag(w):
			if f, inline := flagSpec(w, flags); f != nil && takesValue(f) && !inline {
				pending = f
			}
		case nargs == 0 && findCommand(cmds, w) != nil:
			c := findCommand(cmds, w)
			path += " " + c.Name
			flags, cmds = c.Flags, c.Subcommands
		default:
			nargs++
		}
	}
	switch {
	case pending != nil:
		return r.flagValues(pending, "", cur, done)
	case dashdash:
		if path == app.Name+" exec" {
			return []string{completeFiles}
		}
		return nil
	case strings.HasPrefix(cur, "--") && strings.Contains(cur, "="):
		name, val, _ := strings.Cut(cur, "=")
		if f, _ := flagSpec(name, flags); f != nil && takesValue(f) {
			return r.flagValues(f, name+"=", val, done)
		}
		return nil
	case strings.HasPrefix(cur, "-"):
		var out []string
		for _, f := range append(visibleFlags(flags), helpFlag()) {
			for _, n := range f.Names() {
				name := "--" + n
				if len(n) == 1 {
					name = "-" + n
				}
				out = append(out, name+"\t"+flagUsage(f))
			}
		}
		return matching(out, cur)
	}
	var out []string
	if nargs == 0 {
		for _, c := range visibleCommands(cmds) {
			out = append(out, c.Name+"\t"+c.Usage)
		}
		out = append(out, r.argValues(strings.TrimPrefix(path, app.Name+" "), done)...)
	}
	return matching(out, cur)
}

// argValues completes the first argument of the commands that take a
// profile name, a queue ID or a shell.
func (r *runner) argValues(cmd string, done []string) []string {
	switch cmd {
	case "profile show", "profile test", "profile set-password", "profile delete-password", "profile login", "profile logout":
		return r.profileNames(done)
	case "queue show", "queue delete":
		return r.queueIDs(done)
	case "completion":
		return []string{"bash", "zsh", "fish"}
	}
	return nil
}

// flagEnums are the values of the flags that take a fixed set; --tls
// takes those of the profile key.
var flagEnums = map[string][]string{
	"tls":  profileValues("tls"),
	"when": {"failure", "stderr", "output", "always"},
}

// profileValues are the allowed values of a profile key.
func profileValues(key string) []string {
	k, _ := profiles.Lookup(key)
	return k.Values
}

// flagValues completes the value of f, given as prefix+val in one word.
func (r *runner) flagValues(f cli.Flag, prefix, val string, done []string) []string {
	name := f.Names()[0]
	var out []string
	switch p := flagPlaceholder(f); {
	case name == "profile":
		out = r.profileNames(done)
	case flagEnums[name] != nil:
		out = flagEnums[name]
	case strings.Contains(p, "FILE") || strings.Contains(p, "DIR"):
		return []string{completeFiles}
	}
	out = matching(out, val)
	for i := range out {
		out[i] = prefix + out[i]
	}
	return out
}

// completionConfig loads the configuration the completed command line
// would use: its --config, else the usual search. nil when there is none
// or it cannot be read.
func (r *runner) completionConfig(done []string) *profiles.Config {
	explicit := ""
	for i, w := range done {
		if w == "--config" && i+1 < len(done) {
			explicit = done[i+1]
		} else if v, ok := strings.CutPrefix(w, "--config="); ok {
			explicit = v
		}
	}
	path, err := profiles.Locate(explicit, r.env.Getenv)
	if err != nil || path == "" {
		return nil
	}
	cfg, err := profiles.Load(path)
	if err != nil {
		return nil
	}
	return cfg
}

func (r *runner) profileNames(done []string) []string {
	cfg := r.completionConfig(done)
	if cfg == nil {
		return nil
	}
	var out []string
	for _, n := range cfg.Names() {
		out = append(out, n+"\t"+cfg.Profiles[n].From)
	}
	return out
}

// queueIDs lists the user's spool; a spool that does not exist yet is
// not created for a TAB.
func (r *runner) queueIDs(done []string) []string {
	dir := r.queueDir(r.completionConfig(done))
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	sp, err := spool.Open(dir, r.env.UID, r.env.Now)
	if err != nil {
		return nil
	}
	entries, _ := sp.List()
	var out []string
	for _, e := range entries {
		out = append(out, e.ID+"\t"+strings.Join(e.Recipients, ","))
	}
	return out
}

// matching keeps the candidates that start with prefix.
func matching(cands []string, prefix string) []string {
	return slices.DeleteFunc(slices.Clone(cands), func(c string) bool { return !strings.HasPrefix(c, prefix) })
}

// joinEquals undoes bash's split of "--flag=value" into "--flag", "=",
// "value" (= is in COMP_WORDBREAKS), so the walk sees the word as typed.
func joinEquals(words []string) []string {
	var out []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		if w == "=" && len(out) > 0 && strings.HasPrefix(out[len(out)-1], "--") && !strings.Contains(out[len(out)-1], "=") {
			out[len(out)-1] += "="
			if i+1 < len(words) {
				i++
				out[len(out)-1] += words[i]
			}
			continue
		}
		out = append(out, w)
	}
	return out
}

// completionScripts are the shell glue, keyed by shell.
var completionScripts = map[string]string{"bash": bashCompletion, "zsh": zshCompletion, "fish": fishCompletion}

const bashCompletion = `# bash completion for mailout; load with: source <(mailout completion bash)
_mailout() {
    local cur=${COMP_WORDS[COMP_CWORD]} prog=${COMP_WORDS[0]/#\~/$HOME}
    local IFS=$'\n'
    local out=($("$prog" completion __complete -- "${COMP_WORDS[@]:0:COMP_CWORD}" "$cur" 2>/dev/null))
    if [[ ${out[0]} == :files ]]; then
        [[ $cur == = ]] && cur=
        compopt -o filenames 2>/dev/null || true
        COMPREPLY=($(compgen -f -- "$cur"))
        return
    fi
    COMPREPLY=("${out[@]%%$'\t'*}")
    # "--flag=value" is three words to bash: complete only the value.
    if [[ $cur == = || ${COMP_WORDS[COMP_CWORD-1]} == = ]]; then
        COMPREPLY=("${COMPREPLY[@]#*=}")
    fi
}
complete -F _mailout mailout
`

const zshCompletion = `#compdef mailout
# zsh completion for mailout; install as _mailout in $fpath, or
# source <(mailout completion zsh) after compinit.
_mailout() {
    local -a out cands
    local line
    out=("${(@f)$(${~words[1]} completion __complete -- "${(@)words[1,CURRENT]}" 2>/dev/null)}")
    if [[ ${out[1]} == :files ]]; then
        compset -P '*='
        _files
        return
    fi
    for line in "${out[@]}"; do
        [[ -n $line ]] || continue
        if [[ $line == *$'\t'* ]]; then
            cands+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
        else
            cands+=("${line//:/\\:}")
        fi
    done
    (( ${#cands} )) && _describe -t values mailout cands
}
if [[ $funcstack[1] == _mailout ]]; then
    _mailout "$@"
else
    compdef _mailout mailout
fi
`

const fishCompletion = `# fish completion for mailout; install as ~/.config/fish/completions/mailout.fish
function __mailout_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l out ($words[1] completion __complete -- $words 2>/dev/null)
    if test "$out[1]" = ":files"
        set -l tok (commandline -ct)
        set -l pre (string match -r -- '^--[^=]*=' $tok)
        for p in (__fish_complete_path (string replace -r -- '^--[^=]*=' '' $tok))
            printf '%s%s\n' "$pre" $p
        end
        return
    end
    printf '%s\n' $out
end
complete -c mailout -f -a '(__mailout_complete)'
`
