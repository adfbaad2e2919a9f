// Package sendmail implements the pure parts of mailout's sendmail drop-in mode:
// the sendmail command line, the envelope policy and the fix-ups applied to a
// raw message read from standard input, and the SMTP dialogue of -bs. It does no delivery, reads no configuration and touches no
// file: the caller passes in everything that depends on the system or the
// profile (clock, Message-ID, From, alias expansion, local domains).
//
// # Command line
//
// [Parse] reads sendmail's argv with POSIX getopt rules and sendmail's option
// letters: boolean letters cluster (-ti), letters that take an argument take
// the rest of the word or the next word (-fuser, -f user, -oi, -odi,
// -B8BITMIME), "--" ends the options and the first word that is not an option
// starts the recipients, as Postfix's sendmail does. Options that mailout
// ignores still consume their arguments, so an argument never becomes a
// recipient.
//
// # Message fix-ups
//
// [Fixup] copies a message from a reader to a writer, changing only what
// SPEC.md ("sendmail") allows: Date, Message-ID and From are added when
// missing; Bcc and Resent-Bcc are removed; local names in To and Cc are
// qualified; a local From is rewritten to the profile's address; line endings
// become CRLF; lines longer than 998 octets are broken the way Postfix's
// smtp_line_length_limit breaks them; NUL bytes are removed from the body.
// The header block is held in memory (bounded by
// [FixupOptions.MaxHeaderBytes]); the body is streamed with a fixed-size
// buffer, so a body of any size costs constant memory.
//
// # Envelope
//
// [ResolveSender] and [Qualifier] are the envelope policy for raw messages:
// the -f sender rewritten per from_rewrite, LOGIN@FQDN when there is none,
// local recipients qualified through the one alias expander the caller
// passes in, duplicates dropped.
//
// # SMTP on stdin
//
// [Serve] is -bs: go-smtp's server over stdin and stdout. It hands each
// message to the caller's [DeliverFunc] and answers DATA with its outcome,
// so the dialogue itself never delivers anything.
//
// Errors in the message are [*DataError] (exit 65); command line errors are
// [*UsageError] (exit 64).
package sendmail
