package delivery

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/dkim"

	"mailout/message"
)

// signedHeaders are the header fields signed when present, in this order.
// They are the ones RFC 6376 section 5.4.1 recommends that a composer
// writes; trace and transport headers added later are left out so that
// relays cannot break the signature.
func signedHeaders() []string {
	return []string{"From", "To", "Cc", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Reply-To"}
}

// maxHeaderBlock bounds the header block held in memory while signing.
const maxHeaderBlock = 1 << 20

// DKIMOptions say who signs: the d= domain, the s= selector and the key.
type DKIMOptions struct {
	Domain   string
	Selector string
	Key      crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey, see LoadDKIMKey
}

// LoadDKIMKey reads a PEM private key for DKIM: RSA of at least 1024 bits
// (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY"), or Ed25519 (PKCS#8),
// as openssl genrsa / genpkey write them.
func LoadDKIMKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("dkim key: %w", err)
	}
	key, err := parseDKIMKey(data)
	if err != nil {
		return nil, fmt.Errorf("dkim key %s: %w", path, err)
	}
	return key, nil
}

func parseDKIMKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key (want \"RSA PRIVATE KEY\" or \"PRIVATE KEY\")", block.Type)
	}
	if err != nil {
		// The ASN.1 details help nobody fix a key file.
		return nil, fmt.Errorf("PEM block %q does not hold a valid private key", block.Type)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < 1024 {
			return nil, fmt.Errorf("RSA key has %d bits; DKIM verifiers need at least 1024 (2048 recommended)", bits)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T: use RSA or Ed25519", key)
}

// DKIMRecord returns the TXT record to publish at
// SELECTOR._domainkey.DOMAIN for key: "v=DKIM1; k=rsa; p=..." or
// "v=DKIM1; k=ed25519; p=..." (RFC 8463). It returns "" for other key types.
func DKIMRecord(key crypto.Signer) string {
	switch pub := key.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return ""
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	return ""
}

// Sign returns a Transport that DKIM-signs every message (RFC 6376,
// relaxed/relaxed, SHA-256) before handing it to t. It signs those of
// From, To, Cc, Subject, Date, Message-ID, MIME-Version, Content-Type and
// Reply-To that the message has.
//
// Signing streams: the message is written once into the signer, which
// keeps only hashes, and once more behind the DKIM-Signature field when it
// is sent. That relies on message.Message writing the same bytes every
// time. The signature is computed once per Deliver, however many servers
// the message then goes to.
func Sign(t Transport, o DKIMOptions) Transport {
	return &signing{next: t, opts: o}
}

type signing struct {
	next Transport
	opts DKIMOptions
}

func (s *signing) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	sm, res, err := s.sign(env, msg)
	if err != nil {
		return res, err
	}
	return s.next.Deliver(ctx, env, sm)
}

// sign returns msg behind its DKIM-Signature field, or the failure for
// every recipient.
func (s *signing) sign(env message.Envelope, msg message.Message) (message.Message, *Result, error) {
	sm := &signedMessage{inner: msg, opts: s.opts}
	if err := sm.sign(); err != nil {
		var ie *message.InputError
		if errors.As(err, &ie) {
			return nil, &Result{}, err
		}
		e := asError(err)
		res := &Result{}
		res.failAll(env.To, "", e)
		return nil, res, e
	}
	return sm, nil, nil
}

// signedMessage is a message preceded by its DKIM-Signature field,
// computed on first use and reused after that.
type signedMessage struct {
	inner message.Message
	opts  DKIMOptions

	once sync.Once
	sig  string
	err  error
}

// WriteTo writes the DKIM-Signature field, then the message.
func (m *signedMessage) WriteTo(w io.Writer) (int64, error) {
	if err := m.sign(); err != nil {
		return 0, err
	}
	n, err := io.WriteString(w, m.sig)
	if err != nil {
		return int64(n), err
	}
	k, err := m.inner.WriteTo(w)
	return int64(n) + k, err
}

func (m *signedMessage) sign() error {
	m.once.Do(func() { m.sig, m.err = computeSignature(m.inner, m.opts) })
	return m.err
}

func computeSignature(msg message.Message, o DKIMOptions) (string, error) {
	if o.Key == nil || o.Domain == "" || o.Selector == "" {
		return "", &Error{Kind: Config, Op: "dkim", Err: errors.New("dkim needs a domain, a selector and a key")}
	}
	hw := &headerSniffer{opts: o}
	_, werr := msg.WriteTo(hw)
	if hw.signer == nil {
		if werr == nil {
			// Verifiers cannot parse such a header either.
			werr = &signError{errors.New("message header is not followed by a blank line")}
		}
		return "", classifySignErr(werr)
	}
	cerr := hw.signer.Close()
	if werr != nil {
		return "", classifySignErr(werr)
	}
	if cerr != nil {
		return "", classifySignErr(cerr)
	}
	return hw.signer.Signature(), nil
}

// signError marks a message that cannot be signed as it is.
type signError struct{ err error }

func (e *signError) Error() string { return e.err.Error() }
func (e *signError) Unwrap() error { return e.err }

func classifySignErr(err error) error {
	var ie *message.InputError
	var de *Error
	var se *signError
	switch {
	case errors.As(err, &ie), errors.As(err, &de):
		return err
	case errors.As(err, &se):
		return &Error{Kind: Data, Op: "dkim", Err: se.err}
	}
	return &Error{Kind: Config, Op: "dkim", Err: err}
}

// headerSniffer holds the header block until it is complete, to learn
// which of signedHeaders are present, then starts the streaming signer
// and passes everything through to it.
type headerSniffer struct {
	opts   DKIMOptions
	buf    bytes.Buffer
	signer *dkim.Signer
}

func (h *headerSniffer) Write(p []byte) (int, error) {
	if h.signer != nil {
		return h.signer.Write(p)
	}
	h.buf.Write(p)
	if !bytes.Contains(h.buf.Bytes(), []byte("\r\n\r\n")) && !bytes.Contains(h.buf.Bytes(), []byte("\n\n")) {
		if h.buf.Len() > maxHeaderBlock {
			return 0, &signError{fmt.Errorf("header block longer than %d bytes", maxHeaderBlock)}
		}
		return len(p), nil
	}
	if err := h.start(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// start creates the signer for the buffered header and feeds it the
// buffered bytes.
func (h *headerSniffer) start() error {
	keys := presentKeys(h.buf.Bytes())
	if !containsFold(keys, "From") {
		return &signError{errors.New("message has no From header, which DKIM must sign")}
	}
	s, err := dkim.NewSigner(&dkim.SignOptions{
		Domain: h.opts.Domain, Selector: h.opts.Selector, Signer: h.opts.Key,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	})
	if err != nil {
		return err
	}
	h.signer = s
	_, err = s.Write(h.buf.Bytes())
	h.buf = bytes.Buffer{}
	return err
}

// presentKeys lists the signedHeaders fields found in the header block
// at the start of b, once per occurrence, so every instance is signed.
func presentKeys(b []byte) []string {
	count := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		count[strings.ToLower(strings.TrimSpace(name))]++
	}
	var keys []string
	for _, k := range signedHeaders() {
		for range count[strings.ToLower(k)] {
			keys = append(keys, k)
		}
	}
	return keys
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

var _ Transport = (*signing)(nil)
