package delivery

import (
	"encoding/base64"
	"encoding/json"
	"io"

	"mailout/message"
)

// gmail is the Gmail API's users.messages.send with the message as raw
// (base64url) in a JSON body; Gmail takes messages up to 35 MB.
var gmail = &provider{
	name:  "gmail",
	base:  "https://gmail.googleapis.com",
	spf:   "_spf.google.com",
	hosts: []string{"googleapis.com"},
	limit: 35 << 20,
	check: func(APIOptions) error { return nil },
	build: func(a *API, env message.Envelope, msg message.Message) (*call, error) {
		bcc, err := bccHeader(env, msg)
		if err != nil {
			return nil, err
		}
		return &call{
			method: "POST", path: "/gmail/v1/users/me/messages/send", contentType: "application/json",
			body: func(w io.Writer, msg message.Message) error {
				if _, err := io.WriteString(w, `{"raw":"`); err != nil {
					return err
				}
				enc := base64.NewEncoder(base64.URLEncoding, w)
				if _, err := io.WriteString(enc, bcc); err != nil {
					return err
				}
				if _, err := msg.WriteTo(enc); err != nil {
					return err
				}
				if err := enc.Close(); err != nil {
					return err
				}
				_, err := io.WriteString(w, `"}`)
				return err
			},
		}, nil
	},
	authorize: bearer,
	id: func(body []byte) string {
		var v struct {
			ID string `json:"id"`
		}
		json.Unmarshal(body, &v)
		return v.ID
	},
}
