package delivery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"mailout/message"
)

// ses is Amazon SES v2 SendEmail with Content.Raw: the message base64 in a
// JSON body, the envelope recipients as Destination, signed with SigV4.
// SigV4 signs the payload's SHA-256, which SES (unlike S3) will not waive
// with UNSIGNED-PAYLOAD; the body is therefore hashed in the counting
// pass, since the message writes the same bytes each time, and then
// streamed: nothing is spooled. SES takes messages up to 40 MB.
var ses = &provider{
	name:  "ses",
	base:  "https://email.{region}.amazonaws.com",
	spf:   "amazonses.com",
	hosts: []string{"amazonaws.com", "amazonaws.com.cn"},
	limit: 40 << 20,
	check: func(o APIOptions) error {
		if o.Region == "" {
			return errors.New("ses needs aws_region (or AWS_REGION)")
		}
		if o.Credentials == nil {
			return errors.New("ses needs AWS credentials")
		}
		return nil
	},
	build: func(a *API, env message.Envelope, _ message.Message) (*call, error) {
		var head strings.Builder
		head.WriteString(`{"Destination":{"ToAddresses":[`)
		for i, rc := range env.To {
			if i > 0 {
				head.WriteByte(',')
			}
			head.WriteString(jsonQuote(rc))
		}
		head.WriteString(`]},"Content":{"Raw":{"Data":"`)
		return &call{
			method: "POST", path: "/v2/email/outbound-emails", contentType: "application/json",
			body: func(w io.Writer, msg message.Message) error {
				if _, err := io.WriteString(w, head.String()); err != nil {
					return err
				}
				enc := base64.NewEncoder(base64.StdEncoding, w)
				if _, err := msg.WriteTo(enc); err != nil {
					return err
				}
				if err := enc.Close(); err != nil {
					return err
				}
				_, err := io.WriteString(w, `"}}}`)
				return err
			},
		}, nil
	},
	hashBody: true,
	authorize: func(ctx context.Context, a *API, req *http.Request, payloadHash string) error {
		creds, err := a.opts.Credentials.Retrieve(ctx)
		if err != nil {
			return &Error{Kind: Config, Op: "auth", Err: fmt.Errorf("no AWS credentials: %w", err)}
		}
		return v4.NewSigner().SignHTTP(ctx, creds, req, payloadHash, "ses", a.opts.Region, a.opts.Now().UTC())
	},
	probe: func(a *API) string { return "/v2/email/account" },
	id: func(body []byte) string {
		var v struct {
			MessageID string `json:"MessageId"`
		}
		json.Unmarshal(body, &v)
		return v.MessageID
	},
}
