package cmd

import (
	"errors"
	"io"

	"mailout/delivery"
	"mailout/profiles"
)

// mxTransport builds direct MX delivery from an mx profile or --mx.
func (r *runner) mxTransport(p *profiles.Profile, verbose io.Writer) (delivery.Transport, string, error) {
	return nil, "", errors.New("mx not yet")
}

// signing wraps t with DKIM signing when the profile has a DKIM key.
func (r *runner) signing(p *profiles.Profile, t delivery.Transport) delivery.Transport { return t }
