package delivery

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"mailout/internal/dnstest"
	"mailout/internal/smtptest"
	"mailout/message"
)

// A 512-bit RSA key, too weak for DKIM (generated with openssl genrsa).
const weakRSAKey = `-----BEGIN RSA PRIVATE KEY-----
MIIBPAIBAAJBANNEmLH4VyHQ+NBxNUQrlxP5yvIE8tsGgFJSX+khqFm+SFhPqeT1
Vk0+HUMZvuNXvPG0n5DEXNkSut9Ib7bW4FkCAwEAAQJBAMM6I2RqWZItOo/b3V4m
bdCOxwRIoGbXpiLsbibP7HMoHa31qn40sM5MvzZPBIEYOJ82tFu7jUPfBvPtYcfs
QSUCIQD3YiAyeK7b4seQxf9IBcNwUhHvn39KrI5HTmElZ6m10wIhANqgb7VtXo5S
T6LBzUtdER2IB53I9/a0QhcbHfCkT5mjAiEAmJi0161N32EyTQF1iQ3VErHtUmyG
bp+mXCHjFtms+/UCIDIqajeZNv81R+yyx6apXkoGcqjz+mHzjs66fC5Bpbo9AiEA
wGiK4BESKvM/ucNf/6pfUNx7amEq/cBn+dEesFDZMHY=
-----END RSA PRIVATE KEY-----
`

// An ECDSA P-256 key in PKCS#8: a private key DKIM cannot use.
const ecdsaKey = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg/wNwMquxl7n480uG
NHFLUoBGdAM3xRAm1xo8o5loh1qhRANCAAQfb9Slc0GQrugiOJDp40HpE2Wtqk80
ryhceSPn175SRhMi19lR3jGc5vJuqZzz+iFAXB3L//9Fp8aFeilvC+R8
-----END PRIVATE KEY-----
`

func rsaKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("rsa.GenerateKey: %v", err)
	}
	return k
}

func edKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("ed25519.GenerateKey: %v", err)
	}
	return k
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDKIMKey(t *testing.T) {
	rk := rsaKey(t)
	ek := edKey(t)
	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for _, tt := range []struct {
		name    string
		path    string
		want    crypto.PublicKey
		wantErr string
	}{
		{"rsa pkcs1", writePEM(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), rk.Public(), ""},
		{"rsa pkcs8", writePEM(t, "PRIVATE KEY", pkcs8(rk)), rk.Public(), ""},
		{"ed25519 pkcs8", writePEM(t, "PRIVATE KEY", pkcs8(ek)), ek.Public(), ""},
		{"rsa 512", writeFile(t, weakRSAKey), nil, "512"},
		{"ecdsa", writeFile(t, ecdsaKey), nil, "unsupported key type"},
		{"public key", writePEM(t, "PUBLIC KEY", []byte{1}), nil, "not a private key"},
		{"not pem", writeFile(t, "hello"), nil, "no PEM block"},
		{"missing", filepath.Join(t.TempDir(), "nope.pem"), nil, "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := LoadDKIMKey(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadDKIMKey(%s) = %v, want an error with %q", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadDKIMKey(%s) = %v", tt.name, err)
			}
			if pk, ok := k.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pk.Equal(tt.want) {
				t.Errorf("LoadDKIMKey(%s) loaded a different key", tt.name)
			}
		})
	}
}

func TestDKIMRecord(t *testing.T) {
	ek := edKey(t)
	rec := DKIMRecord(ek)
	if !strings.HasPrefix(rec, "v=DKIM1; k=ed25519; p=") || len(rec) != len("v=DKIM1; k=ed25519; p=")+44 {
		t.Errorf("DKIMRecord(ed25519) = %q", rec)
	}
	if rec := DKIMRecord(rsaKey(t)); !strings.HasPrefix(rec, "v=DKIM1; k=rsa; p=MIIB") {
		t.Errorf("DKIMRecord(rsa) = %q", rec)
	}
}

func TestPresentKeys(t *testing.T) {
	for _, tt := range []struct {
		header string
		want   []string
	}{
		{"From: a\r\nSubject: x\r\n\r\nTo: body\r\n", []string{"From", "Subject"}},
		{"from: a\r\nTO: b,\r\n c\r\nto: d\r\nX-Other: y\r\nReceived: z\r\n\r\n", []string{"From", "To", "To"}},
		{"Date: d\nFrom: a\nMessage-Id: <x>\nMIME-Version: 1.0\nContent-Type: text/plain\nReply-To: r\nCc: c\n\n", []string{"From", "Cc", "Date", "Message-ID", "MIME-Version", "Content-Type", "Reply-To"}},
		{"Subject: no from\r\n\r\n", []string{"Subject"}},
	} {
		if got := presentKeys([]byte(tt.header)); !slices.Equal(got, tt.want) {
			t.Errorf("presentKeys(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}

// composed builds a realistic message with the real composer.
func composed(t *testing.T, body string) message.Message {
	t.Helper()
	m, err := message.New(message.Spec{
		From:      &mail.Address{Name: "Jörg Sender", Address: "s@example.test"},
		To:        []*mail.Address{{Address: "x@a.test"}, {Address: "y@b.test"}},
		Subject:   "Grüße, DKIM",
		Date:      time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		MessageID: "<1@example.test>",
		Text:      message.Bytes(body),
	})
	if err != nil {
		t.Fatalf("message.New: %v", err)
	}
	return m
}

// verify checks the DKIM signature of data with go-msgauth, fetching the
// key from the test DNS server.
func verify(t *testing.T, dns *dnstest.Server, data []byte) {
	t.Helper()
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(data), &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) { return dns.Resolver().LookupTXT(context.Background(), name) },
	})
	if err != nil {
		t.Fatalf("dkim.Verify: %v", err)
	}
	if len(vs) != 1 {
		t.Fatalf("dkim.Verify found %d signatures, want 1", len(vs))
	}
	if vs[0].Err != nil {
		t.Fatalf("signature does not verify: %v\n%s", vs[0].Err, data)
	}
	if vs[0].Domain != "example.test" {
		t.Errorf("signature d= %q, want example.test", vs[0].Domain)
	}
	want := []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"}
	if !slices.Equal(vs[0].HeaderKeys, want) {
		t.Errorf("signed headers = %v, want %v", vs[0].HeaderKeys, want)
	}
	verifyWithDKIMPy(t, dns, data)
}

// dkimpyScript verifies stdin with python3-dkim (what dkimverify runs),
// asking the test DNS server (argv[1], "IP:PORT") for the key.
const dkimpyScript = `
import sys
try:
    import dkim, dns.resolver
except ImportError as e:
    print(e)
    sys.exit(3)
host, port = sys.argv[1].rsplit(":", 1)
r = dns.resolver.Resolver(configure=False)
r.nameservers = [host]
r.port = int(port)
def txt(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    try:
        ans = r.resolve(name, "TXT", lifetime=timeout)
    except Exception:
        return None
    for rr in ans:
        return b"".join(rr.strings)
sys.exit(0 if dkim.verify(sys.stdin.buffer.read(), dnsfunc=txt) else 1)
`

// verifyWithDKIMPy checks the signature with Debian's python3-dkim.
// dkimverify itself has no option to choose a DNS server, so the script
// calls the same library with a lookup function aimed at the test server.
func verifyWithDKIMPy(t *testing.T, dns *dnstest.Server, data []byte) {
	t.Helper()
	py := dkimPython(t)
	if py == "" {
		return
	}
	cmd := exec.Command(py, "-c", dkimpyScript, dns.Addr())
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 3 {
		skipDKIMPy(t, py+" lacks the dkim or dns (dnspython) module: "+string(out))
		return
	}
	if err != nil {
		t.Errorf("python3-dkim does not verify the signature: %v\n%s", err, out)
	}
}

// skipDKIMPy notes that python3-dkim cannot check, failing instead under
// MAILOUT_TEST_STRICT=1.
func skipDKIMPy(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("MAILOUT_TEST_STRICT") == "1" {
		t.Fatalf("python3-dkim check: %s", why)
	}
	t.Logf("skipping the python3-dkim check: %s", why)
}

// dkimPython returns the interpreter dkimverify runs with, or "" when
// there is none.
func dkimPython(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("dkimverify")
	if err != nil {
		skipDKIMPy(t, "dkimverify not installed (Debian package python3-dkim)")
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		skipDKIMPy(t, err.Error())
		return ""
	}
	defer f.Close()
	first, _ := bufio.NewReader(f).ReadString('\n')
	fields := strings.Fields(strings.TrimPrefix(first, "#!"))
	if !strings.HasPrefix(first, "#!") || len(fields) == 0 {
		skipDKIMPy(t, "dkimverify is not a script")
		return ""
	}
	if strings.HasSuffix(fields[0], "/env") && len(fields) > 1 {
		return fields[1]
	}
	return fields[0]
}

func dkimKeys(t *testing.T) map[string]crypto.Signer {
	return map[string]crypto.Signer{"rsa-2048": rsaKey(t), "ed25519": edKey(t)}
}

func TestSignRelayVerifies(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	for name, key := range dkimKeys(t) {
		t.Run(name, func(t *testing.T) {
			dns := dnstest.Start(t, `sel._domainkey.example.test. TXT "`+DKIMRecord(key)+`"`)
			srv.Reset()
			relay := NewRelay(RelayOptions{Host: "127.0.0.1", Port: srv.Port(), TLS: TLSNone, Timeout: 5 * time.Second})
			tr := Sign(relay, DKIMOptions{Domain: "example.test", Selector: "sel", Key: key})
			// Trailing spaces and blank lines: relaxed body canonicalisation
			// must agree with the verifier.
			msg := composed(t, "Hello  there \n\n.leading dot\n\n\n")
			if _, err := tr.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{"x@a.test"}}, msg); err != nil {
				t.Fatalf("Deliver = %v", err)
			}
			msgs, err := srv.Wait(1, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(msgs[0].Data, []byte("DKIM-Signature: ")) {
				t.Fatalf("message does not start with DKIM-Signature:\n%s", msgs[0].Data)
			}
			verify(t, dns, msgs[0].Data)
		})
	}
}

func TestSignMXVerifiesForEveryDomain(t *testing.T) {
	for name, key := range dkimKeys(t) {
		t.Run(name, func(t *testing.T) {
			lab := startLab(t, map[string]smtptest.Options{"127.0.0.2": {}, "127.0.0.3": {STARTTLS: true}},
				"a.test. MX 10 mx.a.test.",
				"mx.a.test. A 127.0.0.2",
				"b.test. MX 10 mx.b.test.",
				"mx.b.test. A 127.0.0.3",
				`sel._domainkey.example.test. TXT "`+DKIMRecord(key)+`"`,
			)
			counted := &countingMessage{Message: composed(t, "via MX\n")}
			tr := Sign(lab.mx(MXOptions{}), DKIMOptions{Domain: "example.test", Selector: "sel", Key: key})
			if _, err := tr.Deliver(context.Background(), message.Envelope{From: "s@example.test", To: []string{"x@a.test", "y@b.test"}}, counted); err != nil {
				t.Fatalf("Deliver = %v", err)
			}
			// One pass to sign, one per domain to send: signed once.
			if counted.writes != 3 {
				t.Errorf("message written %d times, want 3 (sign once, send twice)", counted.writes)
			}
			var sigs []string
			for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
				msgs := lab.received(ip)
				if len(msgs) != 1 {
					t.Fatalf("server %s got %d messages, want 1", ip, len(msgs))
				}
				verify(t, lab.dns, msgs[0].Data)
				sig, _, _ := bytes.Cut(msgs[0].Data, []byte("\r\nFrom:"))
				sigs = append(sigs, string(sig))
			}
			if sigs[0] != sigs[1] {
				t.Errorf("the two domains got different signatures:\n%s\n%s", sigs[0], sigs[1])
			}
		})
	}
}

type countingMessage struct {
	message.Message
	writes int
}

func (c *countingMessage) WriteTo(w io.Writer) (int64, error) {
	c.writes++
	return c.Message.WriteTo(w)
}

// recordingTransport keeps what it was asked to deliver.
type recordingTransport struct{ got bytes.Buffer }

func (r *recordingTransport) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	if _, err := msg.WriteTo(&r.got); err != nil {
		return nil, err
	}
	return &Result{Transport: "test"}, nil
}

func TestSignFailures(t *testing.T) {
	key := edKey(t)
	missing := &message.InputError{Path: "/nonexistent", Err: os.ErrNotExist}
	for _, tt := range []struct {
		name     string
		opts     DKIMOptions
		msg      message.Message
		wantKind Kind
		wantErr  error
	}{
		{"no From", DKIMOptions{Domain: "example.test", Selector: "s", Key: key}, rawMessage("Subject: x\r\n\r\nbody\r\n"), Data, nil},
		{"header only", DKIMOptions{Domain: "example.test", Selector: "s", Key: key}, rawMessage("From: a@example.test\r\n"), Data, nil},
		{"no key", DKIMOptions{Domain: "example.test", Selector: "s"}, testMessage(), Config, nil},
		{"unreadable attachment", DKIMOptions{Domain: "example.test", Selector: "s", Key: key}, failingMessage{missing}, 0, missing},
		{"huge header", DKIMOptions{Domain: "example.test", Selector: "s", Key: key}, rawMessage("X: " + strings.Repeat("a", 2<<20)), Data, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			next := &recordingTransport{}
			_, err := Sign(next, tt.opts).Deliver(context.Background(), message.Envelope{From: "a@example.test", To: []string{"b@example.test"}}, tt.msg)
			if KindOf(err) != tt.wantKind || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) || (tt.wantKind == 0 && tt.wantErr == nil && err != nil) {
				t.Fatalf("Deliver = %v (kind %v), want kind %v / %v", err, KindOf(err), tt.wantKind, tt.wantErr)
			}
			if err != nil && next.got.Len() != 0 {
				t.Errorf("a message that could not be signed was sent")
			}
		})
	}
}

type failingMessage struct{ err error }

func (f failingMessage) WriteTo(w io.Writer) (int64, error) {
	n, _ := io.WriteString(w, "From: a@example.test\r\n\r\nstart")
	return int64(n), f.err
}

// bigMessage generates a header and size bytes of body lines without
// holding them, sampling the heap every 16 MB it writes.
type bigMessage struct {
	size int64
	peak *uint64
}

func (b bigMessage) WriteTo(w io.Writer) (int64, error) {
	line := []byte(strings.Repeat("0123456789abcdef", 62) + "\r\n") // 994 bytes
	n, err := io.WriteString(w, "From: a@example.test\r\nSubject: big\r\n\r\n")
	total, next := int64(n), int64(0)
	for total < b.size && err == nil {
		n, err = w.Write(line)
		total += int64(n)
		if total >= next {
			next += 16 << 20
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			*b.peak = max(*b.peak, ms.HeapInuse)
		}
	}
	return total, err
}

func TestSignLargeMessageKeepsMemoryFlat(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 400 MB through the signer")
	}
	var written int64
	tr := Sign(transportFunc(func(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
		n, err := msg.WriteTo(io.Discard)
		written = n
		return &Result{}, err
	}), DKIMOptions{Domain: "example.test", Selector: "s", Key: edKey(t)})
	runtime.GC()
	const size = 200 << 20
	var peak uint64
	if _, err := tr.Deliver(context.Background(), message.Envelope{}, bigMessage{size: size, peak: &peak}); err != nil {
		t.Fatalf("Deliver = %v", err)
	}
	if written < size {
		t.Fatalf("wrote %d bytes, want at least %d", written, size)
	}
	if peak > 32<<20 {
		t.Errorf("HeapInuse peaked at %d MB, want under 32 MB", peak>>20)
	}
	t.Logf("HeapInuse peak %.1f MB", float64(peak)/(1<<20))
}

type transportFunc func(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error)

func (f transportFunc) Deliver(ctx context.Context, env message.Envelope, msg message.Message) (*Result, error) {
	return f(ctx, env, msg)
}

func FuzzPresentKeys(f *testing.F) {
	f.Add([]byte("From: a\r\nTo: b\r\n\r\nbody"))
	f.Add([]byte("from:a\n to:\nSUBJECT: x\n\n"))
	f.Add([]byte(":\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, k := range presentKeys(b) {
			if !slices.Contains(signedHeaders(), k) {
				t.Fatalf("presentKeys(%q) returned %q, not a signed header", b, k)
			}
		}
	})
}

func FuzzParseDKIMKey(f *testing.F) {
	f.Add([]byte(weakRSAKey))
	f.Add([]byte(ecdsaKey))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINW40tpLIhaXbtC2PlROLKi+WQxoHSMmhwZBm/1kL45G\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := parseDKIMKey(b)
		if err == nil && DKIMRecord(k) == "" {
			t.Fatalf("parseDKIMKey(%q) accepted a key DKIMRecord cannot publish", b)
		}
	})
}
