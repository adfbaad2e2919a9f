package cmd_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"encoding/base64"
	"errors"
	"os/exec"

	"github.com/rogpeppe/go-internal/testscript"

	"mailout/cmd"
	"mailout/delivery"
	"mailout/internal/smtptest"
)

func TestMain(m *testing.M) {
	run := func() {
		env := cmd.SystemEnv()
		// MAILOUT_TEST_CLOCK shifts the clock (e.g. "+2h") so scripts can
		// make spool entries due or expired without waiting.
		if off, err := time.ParseDuration(strings.TrimPrefix(os.Getenv("MAILOUT_TEST_CLOCK"), "+")); err == nil {
			env.Now = func() time.Time { return time.Now().Add(off) }
		}
		// MAILOUT_TEST_FQDN stands in for this host's FQDN ("" for a host
		// without one), so scripts do not depend on the machine's name.
		if fq, ok := os.LookupEnv("MAILOUT_TEST_FQDN"); ok {
			env.FQDN = func() string { return fq }
		}
		// MAILOUT_TEST_RESOLVER points the SPF lookups of API profiles
		// at a test DNS server.
		if addr := os.Getenv("MAILOUT_TEST_RESOLVER"); addr != "" {
			env.TXT = delivery.ResolverFor(addr)
		}
		os.Exit(cmd.Main(os.Args, env))
	}
	testscript.Main(m, map[string]func(){"mailout": run, "sendmail": run, "mailq": run})
}

// TestScript runs the end-to-end scripts in testdata/script: the real
// binary against real SMTP servers on loopback.
func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		// [strict]: MAILOUT_TEST_STRICT=1, where a missing program fails
		// the script (see the "missing" command) instead of skipping it.
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "strict":
				return os.Getenv("MAILOUT_TEST_STRICT") == "1", nil
			case "git-send-email":
				out, err := exec.Command("git", "--exec-path").Output()
				if err != nil {
					return false, nil
				}
				_, err = os.Stat(filepath.Join(strings.TrimSpace(string(out)), "git-send-email"))
				return err == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Setup: func(e *testscript.Env) error {
			e.Setenv("HOME", e.WorkDir+"/home")
			e.Setenv("XDG_CONFIG_HOME", e.WorkDir+"/home/.config")
			e.Setenv("XDG_STATE_HOME", e.WorkDir+"/home/.local/state")
			e.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
			e.Setenv("MAILOUT_CONFIG", "")
			e.Setenv("MAILOUT_TEST_STRICT", os.Getenv("MAILOUT_TEST_STRICT"))
			st := &scriptState{servers: map[string]*scriptServer{}}
			e.Values[stateKey{}] = st
			e.Defer(st.closeAll)
			newAPIServers(e)
			setupOAuth(e)
			return os.MkdirAll(e.WorkDir+"/home", 0o700)
		},
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"smtpd":          cmdSMTPD,
			"smtpd-up":       cmdSMTPDUp,
			"smtpd-ok":       cmdSMTPDOK,
			"mailbox":        cmdMailbox,
			"fetch":          cmdFetch,
			"decode":         cmdDecode,
			"genfile":        cmdGenfile,
			"checksum":       cmdChecksum,
			"gencert":        cmdGencert,
			"dnsd":           cmdDNSD,
			"dkimverify":     cmdDKIMVerify,
			"stsd":           cmdSTSD,
			"tlsa":           cmdTLSA,
			"code":           cmdCode,
			"missing":        cmdMissing,
			"apid":           cmdAPID,
			"apibox":         cmdAPIBox,
			"apifetch":       cmdAPIFetch,
			"apigap":         cmdAPIGap,
			"cmpmime":        cmdCmpMIME,
			"apistop":        cmdAPIStop,
			"oauthd":         cmdOAuthd,
			"oauthd-count":   cmdOAuthdCount,
			"oauthd-approve": cmdOAuthdApprove,
			"oauthd-revoke":  cmdOAuthdRevoke,
			"oauthd-browse":  cmdOAuthdBrowse,
			"oauthd-noleak":  cmdOAuthdNoLeak,
		},
	})
}

type stateKey struct{}

type scriptServer struct {
	opts smtptest.Options
	srv  *smtptest.Server
}

type scriptState struct {
	mu      sync.Mutex
	servers map[string]*scriptServer
}

func (s *scriptState) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.servers {
		if ss.srv != nil {
			ss.srv.Close()
		}
	}
}

func state(ts *testscript.TestScript) *scriptState { return ts.Value(stateKey{}).(*scriptState) }

// smtpd NAME [starttls] [tls] [auth=USER:PASS] [mechs=A,B] [insecureauth]
// [noauth] [reject=ADDR:CODE] [greeting=CODE] [mail=CODE] [data=CODE]
// [drop] [utf8] [dsn] [brokentls] [hang] [discard] [down] [addr=IP:PORT]
// [certhost=NAME] [bearer=IDP] (XOAUTH2/OAUTHBEARER tokens checked against
// the oauthd IDP)
// starts a test SMTP server and sets NAME_HOST, NAME_PORT, NAME_ADDR and
// NAME_CA. With "down" it only reserves the address (see smtpd-up).
func cmdSMTPD(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: smtpd NAME [options]")
	}
	name := args[0]
	var o smtptest.Options
	down := false
	for _, a := range args[1:] {
		k, v, _ := strings.Cut(a, "=")
		switch k {
		case "starttls":
			o.STARTTLS = true
		case "tls":
			o.ImplicitTLS = true
		case "brokentls":
			o.BrokenTLS = true
		case "auth":
			u, p, _ := strings.Cut(v, ":")
			if o.Users == nil {
				o.Users = map[string]string{}
			}
			o.Users[u] = p
		case "mechs":
			o.Mechanisms = strings.Split(v, ",")
		case "bearer":
			ip := idp(ts, v)
			o.Bearer = func(_, tok string) bool { return ip.Valid(tok) }
		case "insecureauth":
			o.AllowInsecureAuth = true
		case "noauth":
			o.NoAuthAdvertised = true
		case "reject":
			addr, code, _ := strings.Cut(v, ":")
			if o.RcptReplies == nil {
				o.RcptReplies = map[string]smtptest.Reply{}
			}
			o.RcptReplies[addr] = smtptest.Reply{Code: atoi(ts, code)}
		case "greeting":
			o.Greeting = &smtptest.Reply{Code: atoi(ts, v)}
		case "mail":
			o.MailReply = &smtptest.Reply{Code: atoi(ts, v)}
		case "data":
			o.DataReply = &smtptest.Reply{Code: atoi(ts, v)}
		case "drop":
			o.DropInData = true
		case "utf8":
			o.SMTPUTF8 = true
		case "dsn":
			o.DSN = true
		case "hang":
			o.Hang = true
		case "discard":
			o.DiscardData = true
		case "clientcert":
			o.RequestClientCert = true
		case "down":
			down = true
		case "addr":
			o.Addr = v
		case "certhost":
			o.CertHosts = append(o.CertHosts, v)
		default:
			ts.Fatalf("smtpd: unknown option %q", a)
		}
	}
	ss := &scriptServer{opts: o}
	if down {
		host := "127.0.0.1"
		if o.Addr != "" {
			host, _, _ = strings.Cut(o.Addr, ":")
		}
		addr, err := smtptest.FreeAddrOn(host)
		ts.Check(err)
		ss.opts.Addr = addr
		setServerEnv(ts, name, addr, "")
	} else {
		srv, err := smtptest.New(o)
		ts.Check(err)
		ss.srv = srv
		setServerEnv(ts, name, srv.Addr(), srv.CAFile())
	}
	st := state(ts)
	st.mu.Lock()
	st.servers[name] = ss
	st.mu.Unlock()
}

func setServerEnv(ts *testscript.TestScript, name, addr, ca string) {
	host, port, _ := strings.Cut(addr, ":")
	ts.Setenv(name+"_HOST", host)
	ts.Setenv(name+"_PORT", port)
	ts.Setenv(name+"_ADDR", addr)
	ts.Setenv(name+"_CA", ca)
}

// smtpd-up NAME starts a server reserved with "down".
func cmdSMTPDUp(ts *testscript.TestScript, neg bool, args []string) {
	ss := server(ts, args)
	if ss.srv != nil {
		ts.Fatalf("smtpd-up: %s is already up", args[0])
	}
	srv, err := smtptest.New(ss.opts)
	ts.Check(err)
	ss.srv = srv
	setServerEnv(ts, args[0], srv.Addr(), srv.CAFile())
}

func server(ts *testscript.TestScript, args []string) *scriptServer {
	if len(args) < 1 {
		ts.Fatalf("missing server name")
	}
	st := state(ts)
	st.mu.Lock()
	defer st.mu.Unlock()
	ss, ok := st.servers[args[0]]
	if !ok {
		ts.Fatalf("no server %q", args[0])
	}
	return ss
}

// smtpd-ok NAME clears the fault replies of a running server.
func cmdSMTPDOK(ts *testscript.TestScript, neg bool, args []string) {
	ss := server(ts, args)
	ss.srv.SetOptions(func(o *smtptest.Options) {
		o.RcptReplies, o.MailReply, o.DataReply, o.Greeting = nil, nil, nil, nil
	})
}

// mailbox NAME N asserts that NAME received exactly N messages.
func cmdMailbox(ts *testscript.TestScript, neg bool, args []string) {
	ss := server(ts, args)
	want := atoi(ts, args[1])
	if ss.srv == nil {
		ts.Fatalf("server %s is down", args[0])
	}
	if want > 0 {
		ss.srv.Wait(want, 10*time.Second)
	}
	got := ss.srv.Messages()
	if (len(got) == want) == neg {
		ts.Fatalf("%s has %d messages, want %s%d", args[0], len(got), map[bool]string{true: "not ", false: ""}[neg], want)
	}
}

// fetch NAME I FILE writes message I (from 0) to FILE and its envelope and
// session facts to FILE.env.
func cmdFetch(ts *testscript.TestScript, neg bool, args []string) {
	ss := server(ts, args)
	i := atoi(ts, args[1])
	msgs, err := ss.srv.Wait(i+1, 10*time.Second)
	if err != nil {
		ts.Fatalf("fetch: %v", err)
	}
	m := msgs[i]
	ts.Check(os.WriteFile(ts.MkAbs(args[2]), m.Data, 0o644))
	var b strings.Builder
	fmt.Fprintf(&b, "from: <%s>\n", m.From)
	for _, t := range m.To {
		fmt.Fprintf(&b, "to: <%s>\n", t)
	}
	fmt.Fprintf(&b, "tls: %v\nauth: %s %s\nhelo: %s\nsize: %d\nbody: %s\nutf8: %v\nclientcert: %s\n", m.TLS, m.AuthMech, m.AuthUser, m.Helo, m.Size, m.Body, m.UTF8, m.ClientCert)
	fmt.Fprintf(&b, "ret: %s\nenvid: %s\nnotify: %s\n", m.Ret, m.EnvID, strings.Join(m.Notify, ";"))
	ts.Check(os.WriteFile(ts.MkAbs(args[2]+".env"), []byte(b.String()), 0o644))
}

// decode IN OUT writes a readable form of a MIME message: decoded headers,
// then each leaf part's type, file name and decoded text, or the SHA-256
// and size of binary content.
func cmdDecode(ts *testscript.TestScript, neg bool, args []string) {
	raw, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	ts.Check(err)
	var b strings.Builder
	dec := new(mime.WordDecoder)
	for _, k := range sortedKeys(m.Header) {
		for _, v := range m.Header[k] {
			d, err := dec.DecodeHeader(v)
			if err != nil {
				d = v
			}
			fmt.Fprintf(&b, "%s: %s\n", k, d)
		}
	}
	ts.Check(decodePart(&b, textproto(m.Header), m.Body))
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(b.String()), 0o644))
}

type header map[string][]string

func (h header) get(k string) string {
	if v := h[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func textproto(h mail.Header) header { return header(h) }

func decodePart(b *strings.Builder, h header, body io.Reader) error {
	ct := h.get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content-type %q: %v", ct, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		fmt.Fprintf(b, "=== %s\n", mt)
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := decodePart(b, header(p.Header), p); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(h.get("Content-Transfer-Encoding")) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "--- %s", mt)
	if _, dp, err := mime.ParseMediaType(h.get("Content-Disposition")); err == nil {
		if fn := dp["filename"]; fn != "" {
			fmt.Fprintf(b, " filename=%q", fn)
		}
	}
	if cid := h.get("Content-Id"); cid != "" {
		fmt.Fprintf(b, " cid=%s", cid)
	}
	fmt.Fprintf(b, " encoding=%s\n", h.get("Content-Transfer-Encoding"))
	if strings.HasPrefix(mt, "text/") {
		data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
		b.Write(data)
		if len(data) > 0 && data[len(data)-1] != '\n' {
			b.WriteString("\n")
		}
		return nil
	}
	sum := sha256.Sum256(data)
	fmt.Fprintf(b, "sha256 %s size %d\n", hex.EncodeToString(sum[:]), len(data))
	return nil
}

func sortedKeys(h mail.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j-1] > keys[j]; j-- {
			keys[j-1], keys[j] = keys[j], keys[j-1]
		}
	}
	return keys
}

// genfile FILE SIZE writes SIZE pseudo-random bytes (fixed seed).
func cmdGenfile(ts *testscript.TestScript, neg bool, args []string) {
	n := atoi(ts, args[1])
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 64<<10)
	for n > 0 {
		for i := range buf {
			buf[i] = byte(rng.Uint32())
		}
		k := min(n, len(buf))
		_, err := f.Write(buf[:k])
		ts.Check(err)
		n -= k
	}
}

// gencert NAME CN writes a self-signed client certificate NAME.crt and
// its key NAME.key.
func cmdGencert(ts *testscript.TestScript, neg bool, args []string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	ts.Check(err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: args[1]},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &key.PublicKey, key)
	ts.Check(err)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[0]+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	ts.Check(os.WriteFile(ts.MkAbs(args[0]+".key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600))
}

// checksum FILE VAR sets VAR to the hex SHA-256 of FILE.
func cmdChecksum(ts *testscript.TestScript, neg bool, args []string) {
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	sum := sha256.Sum256(data)
	ts.Setenv(args[1], hex.EncodeToString(sum[:]))
}

func atoi(ts *testscript.TestScript, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		ts.Fatalf("not a number: %q", s)
	}
	return n
}

// missing PROG fails the script: used as "[!exec:PROG] [strict] missing
// PROG" before a skip, so CI never silently skips a real-program test.
func cmdMissing(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("%s is not installed but MAILOUT_TEST_STRICT=1 requires it", strings.Join(args, " "))
}

// code N PROG ARGS... runs PROG like exec and asserts its exit status is N;
// stdout and stderr are kept for the next stdout/stderr checks.
func cmdCode(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: code N PROG [ARGS...]")
	}
	want := atoi(ts, args[0])
	err := ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if (got == want) == neg {
		ts.Logf("[stdout]\n%s[stderr]\n%s", ts.ReadFile("stdout"), ts.ReadFile("stderr"))
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}
