package delivery

import (
	"encoding/base64"
	"errors"
	"io"
	"net/url"

	"mailout/message"
)

// graph is Microsoft Graph's sendMail with a MIME body: the base64 of the
// message as text/plain. Graph caps a request at 4 MB, base64 included.
var graph = &provider{
	name:      "graph",
	base:      "https://graph.microsoft.com",
	spf:       "spf.protection.outlook.com",
	hosts:     []string{"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"},
	limit:     4 << 20,
	limitBody: true,
	check:     func(APIOptions) error { return nil },
	build: func(a *API, env message.Envelope, msg message.Message) (*call, error) {
		if env.From == "" {
			return nil, &Error{Kind: Unavailable, Op: "api", Err: errors.New("graph sends as a mailbox: the null sender <> is not possible")}
		}
		bcc, err := bccHeader(env, msg)
		if err != nil {
			return nil, err
		}
		return &call{
			method: "POST", path: "/v1.0/users/" + url.PathEscape(env.From) + "/sendMail", contentType: "text/plain",
			body: func(w io.Writer, msg message.Message) error {
				enc := base64.NewEncoder(base64.StdEncoding, w)
				if _, err := io.WriteString(enc, bcc); err != nil {
					return err
				}
				if _, err := msg.WriteTo(enc); err != nil {
					return err
				}
				return enc.Close()
			},
		}, nil
	},
	authorize: bearer,
	id:        func([]byte) string { return "" },
}
