package cmd

import (
	"encoding/json"
	"fmt"
	"io"

	"mailout/delivery"
	"mailout/internal/text"
)

// jsonOutput collects what --json prints: one object per message, also
// when it failed before a message existed.
type jsonOutput struct {
	enabled   bool
	w         io.Writer
	status    string
	messageID string
	queueID   string
	profile   string
	transport string
	result    *delivery.Result
	row       int
}

type jsonRecipient struct {
	Address string `json:"address"`
	Status  string `json:"status"`
	Host    string `json:"host,omitempty"`
	Reply   string `json:"reply,omitempty"`
	// TLS is how direct MX delivery protected it (dane, mta-sts,
	// starttls, opportunistic, none); MTASTS the domain's MTA-STS mode as
	// applied; TLSReport what a testing policy would have refused.
	TLS       string `json:"tls,omitempty"`
	MTASTS    string `json:"mta_sts,omitempty"`
	TLSReport string `json:"tls_report,omitempty"`
}

type jsonObject struct {
	Status     string          `json:"status"`
	MessageID  string          `json:"message_id,omitempty"`
	QueueID    string          `json:"queue_id,omitempty"`
	Profile    string          `json:"profile,omitempty"`
	Transport  string          `json:"transport,omitempty"`
	Recipients []jsonRecipient `json:"recipients"`
	ExitCode   int             `json:"exit_code"`
	Error      string          `json:"error,omitempty"`
	Row        int             `json:"row,omitempty"`
}

func (o *jsonOutput) object(err error) jsonObject {
	obj := jsonObject{Status: o.status, MessageID: o.messageID, QueueID: o.queueID, Profile: o.profile,
		Transport: o.transport, Recipients: []jsonRecipient{}, ExitCode: exitCode(err), Row: o.row}
	if o.result != nil {
		for _, rr := range o.result.Recipients {
			obj.Recipients = append(obj.Recipients, jsonRecipient{Address: rr.Address, Status: string(rr.Status), Host: rr.Host, Reply: rr.Reply,
				TLS: rr.TLS, MTASTS: rr.MTASTS, TLSReport: rr.TLSReport})
		}
	}
	if err != nil {
		obj.Error = text.OneLine(err.Error())
	}
	if obj.Status == "" {
		switch {
		case o.queueID != "":
			obj.Status = "queued"
		case err != nil:
			obj.Status = "failed"
		default:
			obj.Status = "sent"
		}
	}
	return obj
}

// finish prints the object when --json is on.
func (o *jsonOutput) finish(err error) {
	if !o.enabled {
		return
	}
	jsonLine(o.w, o.object(err))
}

// jsonLine writes v as one line of JSON with '<', '>' and '&' left
// readable: addresses and SMTP replies are full of them. Every JSON
// output goes through here.
func jsonLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// writeJSON is jsonLine for a command's whole output, a failed write
// being exit 74.
func writeJSON(w io.Writer, v any) error {
	if err := jsonLine(w, v); err != nil {
		return withCode(exitIOErr, fmt.Errorf("write output: %w", err))
	}
	return nil
}
