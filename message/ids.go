package message

import (
	"bufio"
	"bytes"
	"encoding/base32"
	"fmt"
	"io"
	"time"
)

// idEncoding is base32 in lower case, without padding: the random part of
// a Message-ID.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewMessageID returns "<TIME.RANDOM@domain>". The domain comes from the
// sender, not the host name, which is often a bare "localhost" or "vm".
func NewMessageID(rand io.Reader, now time.Time, domain string) (string, error) {
	var r [10]byte
	if _, err := io.ReadFull(rand, r[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	if domain == "" {
		domain = "localhost"
	}
	// Appended, not formatted: a batch makes one per row.
	b := make([]byte, 0, 1+14+1+idEncoding.EncodedLen(len(r))+1+len(domain)+1)
	b = append(b, '<')
	b = now.UTC().AppendFormat(b, "20060102150405")
	b = append(b, '.')
	b = idEncoding.AppendEncode(b, r[:])
	b = append(b, '@')
	b = append(b, domain...)
	b = append(b, '>')
	return string(b), nil
}

// WriteMbox appends msg to w as one mboxrd entry: a "From " line, the
// message with LF line endings and ">"-quoted From lines, and a blank line.
func WriteMbox(w io.Writer, sender string, date time.Time, msg Message) error {
	if sender == "" {
		sender = "MAILER-DAEMON"
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "From %s %s\n", sender, date.UTC().Format(time.ANSIC))
	pr, pw := io.Pipe()
	go func() {
		_, err := msg.WriteTo(pw)
		pw.CloseWithError(err)
	}()
	sc := bufio.NewReader(pr)
	for {
		line, err := sc.ReadBytes('\n')
		if len(line) > 0 {
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			if bytes.HasPrefix(bytes.TrimLeft(line, ">"), []byte("From ")) {
				bw.WriteByte('>')
			}
			bw.Write(line)
			bw.WriteByte('\n')
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			pr.CloseWithError(err)
			return err
		}
	}
	bw.WriteByte('\n')
	return bw.Flush()
}
