package smtptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SASL mechanism names accepted in [Options.Mechanisms].
const (
	MechPlain       = "PLAIN"
	MechLogin       = "LOGIN"
	MechCRAMMD5     = "CRAM-MD5"
	MechSCRAMSHA256 = "SCRAM-SHA-256"
	MechXOAUTH2     = "XOAUTH2"
	MechOAUTHBEARER = "OAUTHBEARER"
)

// defaultMechanisms are offered when [Options.Mechanisms] is empty.
var defaultMechanisms = []string{MechPlain, MechLogin}

var knownMechanisms = map[string]bool{
	MechPlain: true, MechLogin: true, MechCRAMMD5: true, MechSCRAMSHA256: true, MechXOAUTH2: true, MechOAUTHBEARER: true,
}

// scramIterations is the PBKDF2 iteration count the SCRAM-SHA-256 server
// announces (the minimum RFC 7677 recommends).
const scramIterations = 4096

var errUnexpectedResponse = errors.New("unexpected client response")

// credentials looks users up; the session implements it.
type credentials interface {
	// password returns the password (or XOAUTH2 token) of user.
	password(user string) (string, bool)
	// bearer checks an OAuth bearer token of user.
	bearer(user, token string) bool
	// authenticated records a successful authentication.
	authenticated(user, mech string)
}

func checkPassword(c credentials, user, pass string) bool {
	want, ok := c.password(user)
	return ok && subtle.ConstantTimeCompare([]byte(want), []byte(pass)) == 1
}

func newSASLServer(mech string, c credentials, domain string) sasl.Server {
	switch mech {
	case MechPlain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			if !checkPassword(c, user, pass) {
				return smtp.ErrAuthFailed
			}
			c.authenticated(user, MechPlain)
			return nil
		})
	case MechLogin:
		return &loginServer{c: c}
	case MechCRAMMD5:
		return &cramMD5Server{c: c, domain: domain}
	case MechSCRAMSHA256:
		return &scramServer{c: c}
	case MechXOAUTH2:
		return &xoauth2Server{c: c}
	case MechOAUTHBEARER:
		return &oauthBearerServer{c: c}
	}
	return nil
}

// loginServer implements the LOGIN mechanism
// (draft-murchison-sasl-login-00): "Username:", then "Password:".
// An initial response, if any, is taken as the user name.
type loginServer struct {
	c    credentials
	step int
	user string
}

func (s *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		if len(resp) > 0 {
			s.user, s.step = string(resp), 2
			return []byte("Password:"), false, nil
		}
		s.step = 1
		return []byte("Username:"), false, nil
	case 1:
		s.user, s.step = string(resp), 2
		return []byte("Password:"), false, nil
	case 2:
		s.step = 3
		if !checkPassword(s.c, s.user, string(resp)) {
			return nil, true, smtp.ErrAuthFailed
		}
		s.c.authenticated(s.user, MechLogin)
		return nil, true, nil
	}
	return nil, true, errUnexpectedResponse
}

// cramMD5Server implements CRAM-MD5 (RFC 2195): the client answers the
// challenge with "user hex(HMAC-MD5(password, challenge))".
type cramMD5Server struct {
	c         credentials
	domain    string
	challenge []byte
}

func (s *cramMD5Server) Next(resp []byte) ([]byte, bool, error) {
	if s.challenge == nil {
		if len(resp) > 0 {
			return nil, true, errUnexpectedResponse
		}
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, true, err
		}
		s.challenge = fmt.Appendf(nil, "<%x.%d@%s>", b, time.Now().UnixNano(), s.domain)
		return s.challenge, false, nil
	}
	i := bytes.LastIndexByte(resp, ' ')
	if i < 0 {
		return nil, true, smtp.ErrAuthFailed
	}
	user := string(resp[:i])
	got, err := hex.DecodeString(strings.ToLower(string(resp[i+1:])))
	if err != nil {
		return nil, true, smtp.ErrAuthFailed
	}
	pass, ok := s.c.password(user)
	if !ok {
		return nil, true, smtp.ErrAuthFailed
	}
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write(s.challenge)
	if !hmac.Equal(mac.Sum(nil), got) {
		return nil, true, smtp.ErrAuthFailed
	}
	s.c.authenticated(user, MechCRAMMD5)
	return nil, true, nil
}

// scramServer implements SCRAM-SHA-256 (RFC 5802, RFC 7677) without channel
// binding. User names are compared after "=2C"/"=3D" unescaping but without
// SASLprep, so test users should be ASCII.
type scramServer struct {
	c               credentials
	step            int
	askedFirst      bool
	user            string
	gs2Header       string
	clientFirstBare string
	serverFirst     string
	nonce           string
	salted          []byte
	authMessage     string
}

func (s *scramServer) Next(resp []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		if len(resp) == 0 {
			if s.askedFirst {
				return nil, true, errUnexpectedResponse
			}
			s.askedFirst = true
			return []byte{}, false, nil // ask for the client-first message
		}
		ch, err := s.clientFirst(string(resp))
		if err != nil {
			return nil, true, err
		}
		s.step = 1
		return ch, false, nil
	case 1:
		ch, err := s.clientFinal(string(resp))
		if err != nil {
			return nil, true, err
		}
		s.step = 2
		return ch, false, nil // server-final "v=…"; the client answers with an empty line
	case 2:
		s.step = 3
		if len(resp) != 0 {
			return nil, true, errUnexpectedResponse
		}
		s.c.authenticated(s.user, MechSCRAMSHA256)
		return nil, true, nil
	}
	return nil, true, errUnexpectedResponse
}

func (s *scramServer) clientFirst(msg string) ([]byte, error) {
	// gs2-header = gs2-cbind-flag "," [ authzid ] ","
	cb, rest, ok := strings.Cut(msg, ",")
	if !ok {
		return nil, errors.New("malformed SCRAM client-first message")
	}
	switch {
	case cb == "n" || cb == "y":
	case strings.HasPrefix(cb, "p="):
		return nil, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Channel binding not supported"}
	default:
		return nil, errors.New("malformed SCRAM client-first message")
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok || (authzid != "" && !strings.HasPrefix(authzid, "a=")) {
		return nil, errors.New("malformed SCRAM client-first message")
	}
	s.gs2Header = cb + "," + authzid + ","
	s.clientFirstBare = bare
	var user, cnonce string
	for _, attr := range strings.Split(bare, ",") {
		switch {
		case strings.HasPrefix(attr, "n="):
			user = attr[2:]
		case strings.HasPrefix(attr, "r="):
			cnonce = attr[2:]
		case strings.HasPrefix(attr, "m="):
			return nil, errors.New("unsupported SCRAM extension")
		}
	}
	if user == "" || cnonce == "" {
		return nil, errors.New("malformed SCRAM client-first message")
	}
	user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(user)
	if authzid != "" && authzid[2:] != user {
		return nil, smtp.ErrAuthFailed
	}
	pass, ok := s.c.password(user)
	if !ok {
		return nil, smtp.ErrAuthFailed
	}
	salt := make([]byte, 16)
	snonce := make([]byte, 18)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	if _, err := rand.Read(snonce); err != nil {
		return nil, err
	}
	salted, err := pbkdf2.Key(sha256.New, pass, salt, scramIterations, sha256.Size)
	if err != nil {
		return nil, err
	}
	s.user, s.salted = user, salted
	s.nonce = cnonce + base64.RawStdEncoding.EncodeToString(snonce)
	s.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, base64.StdEncoding.EncodeToString(salt), scramIterations)
	return []byte(s.serverFirst), nil
}

func (s *scramServer) clientFinal(msg string) ([]byte, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, errors.New("malformed SCRAM client-final message")
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	var cbind, nonce string
	for _, attr := range strings.Split(withoutProof, ",") {
		switch {
		case strings.HasPrefix(attr, "c="):
			cbind = attr[2:]
		case strings.HasPrefix(attr, "r="):
			nonce = attr[2:]
		}
	}
	if cbind != base64.StdEncoding.EncodeToString([]byte(s.gs2Header)) || nonce != s.nonce {
		return nil, smtp.ErrAuthFailed
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != sha256.Size {
		return nil, smtp.ErrAuthFailed
	}
	s.authMessage = s.clientFirstBare + "," + s.serverFirst + "," + withoutProof
	clientKey := hmacSHA256(s.salted, "Client Key")
	storedKey := sha256.Sum256(clientKey)
	clientSig := hmacSHA256(storedKey[:], s.authMessage)
	recovered := make([]byte, len(proof))
	for i := range proof {
		recovered[i] = proof[i] ^ clientSig[i]
	}
	if got := sha256.Sum256(recovered); !hmac.Equal(got[:], storedKey[:]) {
		return nil, smtp.ErrAuthFailed
	}
	serverSig := hmacSHA256(hmacSHA256(s.salted, "Server Key"), s.authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), nil
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// xoauth2Server implements Google's XOAUTH2: the client sends
// "user=U\x01auth=Bearer TOKEN\x01\x01"; the token is checked by
// [Options.Bearer], else it must be the user's password in
// [Options.Users]. A bad token gets a 334 JSON error challenge, the
// client's empty answer, then 535, as Gmail does.
type xoauth2Server struct {
	c      credentials
	step   int
	failed bool
}

func (s *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case s.failed:
		return nil, true, smtp.ErrAuthFailed
	case s.step == 0 && len(resp) == 0:
		s.step = 1
		return []byte{}, false, nil // no initial response: ask for it
	case s.step > 1:
		return nil, true, errUnexpectedResponse
	}
	s.step = 2
	var user, token string
	for _, f := range strings.Split(string(resp), "\x01") {
		switch {
		case strings.HasPrefix(f, "user="):
			user = f[len("user="):]
		case strings.HasPrefix(strings.ToLower(f), "auth=bearer "):
			token = f[len("auth=bearer "):]
		}
	}
	if user == "" || token == "" || !s.c.bearer(user, token) {
		s.failed = true
		return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}`), false, nil
	}
	s.c.authenticated(user, MechXOAUTH2)
	return nil, true, nil
}

// oauthBearerServer implements OAUTHBEARER (RFC 7628): the client sends
// "n,a=USER,\x01host=H\x01port=P\x01auth=Bearer TOKEN\x01\x01"; the token
// is checked like XOAUTH2's. A bad token gets the RFC's 334 JSON error
// challenge; the client must answer with the single byte 0x01, and then
// gets 535.
type oauthBearerServer struct {
	c      credentials
	step   int
	failed bool
}

func (s *oauthBearerServer) Next(resp []byte) ([]byte, bool, error) {
	switch {
	case s.failed:
		if string(resp) != "\x01" {
			return nil, true, errUnexpectedResponse
		}
		return nil, true, smtp.ErrAuthFailed
	case s.step == 0 && len(resp) == 0:
		s.step = 1
		return []byte{}, false, nil
	case s.step > 1:
		return nil, true, errUnexpectedResponse
	}
	s.step = 2
	gs2, rest, ok := strings.Cut(string(resp), "\x01")
	if !ok || !strings.HasPrefix(gs2, "n,") {
		return nil, true, errUnexpectedResponse
	}
	var user, token string
	for _, a := range strings.Split(strings.TrimPrefix(gs2, "n,"), ",") {
		if strings.HasPrefix(a, "a=") {
			user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(a[2:])
		}
	}
	for _, f := range strings.Split(rest, "\x01") {
		if strings.HasPrefix(strings.ToLower(f), "auth=bearer ") {
			token = f[len("auth=bearer "):]
		}
	}
	if user == "" || token == "" || !s.c.bearer(user, token) {
		s.failed = true
		return []byte(`{"status":"invalid_token","schemes":"bearer","scope":"mail"}`), false, nil
	}
	s.c.authenticated(user, MechOAUTHBEARER)
	return nil, true, nil
}
