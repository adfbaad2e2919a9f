// Package text holds the small string rules several packages share, so
// that each exists once: putting an error or a reply on one line, and
// cutting a long one.
package text

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// OneLine returns s on one line: each run of white space and control
// characters (line breaks, tabs, escapes, NULs) becomes one space, and
// the ends are trimmed. Invalid UTF-8 becomes U+FFFD, so the result is
// fit for a header, an SMTP reply, a JSON string or a terminal. It is
// the one definition behind every error or reply that mailout prints on
// a line of its own.
func OneLine(s string) string {
	return JoinLines(s, " ")
}

// JoinLines is [OneLine] with sep between what were lines (at each run
// that holds a line feed) instead of a space: "a\n\n b\tc" with "; "
// gives "a; b c". It reads a program's stderr as a list of messages.
func JoinLines(s, sep string) string {
	var b strings.Builder
	gap, lineEnd := false, false
	for _, c := range s {
		if unicode.IsControl(c) || unicode.IsSpace(c) {
			gap = true
			lineEnd = lineEnd || c == '\n'
			continue
		}
		if gap && b.Len() > 0 {
			if lineEnd {
				b.WriteString(sep)
			} else {
				b.WriteByte(' ')
			}
		}
		gap, lineEnd = false, false
		b.WriteRune(c)
	}
	return b.String()
}

// Truncate returns s cut to at most n bytes followed by "...", or s
// itself when it is no longer than n. It never cuts inside a UTF-8
// sequence, so the result of valid text stays valid.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + "..."
}
