package cmd

import (
	"context"
	"errors"
	"io"

	"mailout/delivery"
	"mailout/profiles"
)

func (r *runner) mxTransport(p *profiles.Profile, verbose io.Writer) (delivery.Transport, string, error) {
	return nil, "", errors.New("mx not yet")
}

func (r *runner) signing(p *profiles.Profile, t delivery.Transport) delivery.Transport { return t }

func (r *runner) applyTemplate(d *draft, o sendOptions) error { return errors.New("template not yet") }

func (r *runner) runSendmail(ctx context.Context, args []string) error {
	return errors.New("sendmail not yet")
}
