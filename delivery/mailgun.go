package delivery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"

	"mailout/message"
)

// mailgun is Mailgun's messages.mime: a multipart form with each envelope
// recipient as a to field and the message as the message file; basic auth
// api:KEY. Mailgun takes messages up to 25 MB.
var mailgun = &provider{
	name:  "mailgun",
	base:  "https://api.mailgun.net",
	spf:   "mailgun.org",
	hosts: []string{"mailgun.net"},
	limit: 25 << 20,
	check: func(o APIOptions) error {
		if o.MailgunDomain == "" {
			return errors.New("mailgun needs mailgun_domain")
		}
		return nil
	},
	build: func(a *API, env message.Envelope, _ message.Message) (*call, error) {
		// One boundary for both passes, so the counted body is the sent one.
		var rnd [12]byte
		if _, err := rand.Read(rnd[:]); err != nil {
			return nil, err
		}
		boundary := "mailout-" + hex.EncodeToString(rnd[:])
		return &call{
			method: "POST", path: "/v3/" + url.PathEscape(a.opts.MailgunDomain) + "/messages.mime",
			contentType: "multipart/form-data; boundary=" + boundary,
			body: func(w io.Writer, msg message.Message) error {
				mw := multipart.NewWriter(w)
				if err := mw.SetBoundary(boundary); err != nil {
					return err
				}
				for _, rc := range env.To {
					if err := mw.WriteField("to", rc); err != nil {
						return err
					}
				}
				fw, err := mw.CreateFormFile("message", "message.eml")
				if err != nil {
					return err
				}
				if _, err := msg.WriteTo(fw); err != nil {
					return err
				}
				return mw.Close()
			},
		}, nil
	},
	authorize: func(ctx context.Context, a *API, req *http.Request, _ string) error {
		key, err := apiKey(ctx, a)
		if err != nil {
			return err
		}
		req.SetBasicAuth("api", key)
		return nil
	},
	probe: func(a *API) string { return "/v3/domains/" + url.PathEscape(a.opts.MailgunDomain) },
	id: func(body []byte) string {
		var v struct {
			ID string `json:"id"`
		}
		json.Unmarshal(body, &v)
		return v.ID
	},
}
