package cmd

import (
	"context"
	"errors"
)

// runSendmail is sendmail mode: argv[0] "sendmail" or `mailout sendmail`.
func (r *runner) runSendmail(ctx context.Context, args []string) error {
	return errors.New("sendmail not yet")
}
