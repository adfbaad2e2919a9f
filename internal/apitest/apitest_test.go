package apitest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The SigV4 check agrees with the AWS SDK's signer, and refuses what a
// tampered or wrongly keyed request carries.
func TestSigV4CheckAgreesWithTheSDK(t *testing.T) {
	s := &Server{}
	o := Options{Kind: "ses", AccessKey: "AKIDTEST", SecretKey: "s3cret", Region: "eu-west-1"}
	sign := func(secret, body string) *http.Request {
		req, _ := http.NewRequest("POST", "http://127.0.0.1:1/v2/email/outbound-emails", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		sum := sha256.Sum256([]byte(body))
		err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "AKIDTEST", SecretAccessKey: secret},
			req, hex.EncodeToString(sum[:]), "ses", "eu-west-1", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		req.Host = req.URL.Host
		return req
	}
	hash := func(b string) [32]byte { return sha256.Sum256([]byte(b)) }
	if err := s.checkSigV4(sign("s3cret", `{"a":1}`), o, hash(`{"a":1}`)); err != nil {
		t.Errorf("a correctly signed request is refused: %v", err)
	}
	if err := s.checkSigV4(sign("s3cret", `{"a":1}`), o, hash(`{"a":2}`)); err == nil {
		t.Error("a changed body passes")
	}
	if err := s.checkSigV4(sign("other", `{"a":1}`), o, hash(`{"a":1}`)); err == nil {
		t.Error("a wrong secret passes")
	}
	req := sign("s3cret", `{"a":1}`)
	req.Header.Set("Content-Type", "text/plain")
	if err := s.checkSigV4(req, o, hash(`{"a":1}`)); err == nil {
		t.Error("a changed signed header passes")
	}
	if err := s.checkSigV4(sign("s3cret", `{}`), Options{AccessKey: "AKIDTEST", SecretKey: "s3cret", Region: "us-east-1"}, hash(`{}`)); err == nil {
		t.Error("a request signed for another region passes")
	}
}

func TestBccHeaderIsRemovedLikeGraphDoes(t *testing.T) {
	m := &Message{Data: []byte("Bcc: x@example.com,\r\n y@example.com\r\nTo: A <a@example.com>\r\nSubject: s\r\n\r\nbody\r\n")}
	if err := headerRecipients(m); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.To, " "); got != "x@example.com y@example.com a@example.com" {
		t.Errorf("recipients %q", got)
	}
	if string(m.Data) != "To: A <a@example.com>\r\nSubject: s\r\n\r\nbody\r\n" {
		t.Errorf("stored %q", m.Data)
	}
}
