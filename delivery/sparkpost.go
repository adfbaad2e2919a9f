package delivery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"mailout/message"
)

// sparkpost is SparkPost's transmissions with content.email_rfc822: the
// message as a JSON string, escaped while it is written; recipients from
// the envelope. SparkPost takes transmissions up to 20 MB.
var sparkpost = &provider{
	name:  "sparkpost",
	base:  "https://api.sparkpost.com",
	spf:   "sparkpostmail.com",
	hosts: []string{"sparkpost.com"},
	limit: 20 << 20,
	check: func(APIOptions) error { return nil },
	build: func(a *API, env message.Envelope, _ message.Message) (*call, error) {
		var head strings.Builder
		head.WriteString(`{"recipients":[`)
		for i, rc := range env.To {
			if i > 0 {
				head.WriteByte(',')
			}
			head.WriteString(`{"address":{"email":` + jsonQuote(rc) + `}}`)
		}
		head.WriteString(`],"content":{"email_rfc822":"`)
		return &call{
			method: "POST", path: "/api/v1/transmissions", contentType: "application/json",
			body: func(w io.Writer, msg message.Message) error {
				if _, err := io.WriteString(w, head.String()); err != nil {
					return err
				}
				if _, err := msg.WriteTo(&jsonString{w: w}); err != nil {
					return err
				}
				_, err := io.WriteString(w, `"}}`)
				return err
			},
		}, nil
	},
	authorize: func(ctx context.Context, a *API, req *http.Request, _ string) error {
		key, err := apiKey(ctx, a)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", key)
		return nil
	},
	probe: func(a *API) string { return "/api/v1/account" },
	id: func(body []byte) string {
		var v struct {
			Results struct {
				ID string `json:"id"`
			} `json:"results"`
		}
		json.Unmarshal(body, &v)
		return v.Results.ID
	},
	rejected: func(body []byte) int {
		var v struct {
			Results struct {
				Rejected int `json:"total_rejected_recipients"`
			} `json:"results"`
		}
		json.Unmarshal(body, &v)
		return v.Results.Rejected
	},
}
