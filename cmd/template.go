package cmd

import "errors"

// applyTemplate renders -T into the draft.
func (r *runner) applyTemplate(d *draft, o sendOptions) error { return errors.New("template not yet") }
