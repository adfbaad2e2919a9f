package cmd

import (
	"context"
	"errors"
	"fmt"

	"mailout/delivery"
	"mailout/message"
	"mailout/profiles"
	"mailout/sendmail"
	"mailout/template"
)

// Exit codes from sysexits.h, as SPEC.md's table fixes them.
const (
	exitOK          = 0
	exitUsage       = 64
	exitDataErr     = 65
	exitNoInput     = 66
	exitNoUser      = 67
	exitNoHost      = 68
	exitUnavailable = 69
	exitSoftware    = 70
	exitIOErr       = 74
	exitTempFail    = 75
	exitNoPerm      = 77
	exitConfig      = 78
)

// codeError carries an exit code chosen where the failure is understood
// best: usage errors in flag handling, I/O errors at the file.
type codeError struct {
	code int
	err  error
	hint string
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &codeError{code: code, err: err}
}

func usageErrorf(format string, args ...any) error {
	return &codeError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func hinted(err error, hint string) error {
	var ce *codeError
	if errors.As(err, &ce) {
		ce.hint = hint
		return err
	}
	return &codeError{code: exitCode(err), err: err, hint: hint}
}

// exitCode maps an error to its exit status: the one table of the program.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	switch delivery.KindOf(err) {
	case delivery.Temporary:
		return exitTempFail
	case delivery.Rejected:
		return exitNoUser
	case delivery.Unavailable:
		return exitUnavailable
	case delivery.HostUnknown:
		return exitNoHost
	case delivery.AuthFailed:
		return exitNoPerm
	case delivery.Config:
		return exitConfig
	case delivery.Data:
		return exitDataErr
	}
	var (
		de  *message.DataError
		ie  *message.InputError
		te  *template.Error
		tde *template.DataError
		sue *sendmail.UsageError
		sde *sendmail.DataError
	)
	switch {
	case errors.As(err, &sue):
		return exitUsage
	case errors.As(err, &sde):
		return exitDataErr
	case profiles.IsConfigError(err), profiles.IsSecretError(err):
		return exitConfig
	case errors.As(err, &ie):
		return exitNoInput
	case errors.As(err, &de), errors.As(err, &te), errors.As(err, &tde):
		return exitDataErr
	case errors.Is(err, context.Canceled):
		return exitTempFail
	}
	return exitSoftware
}

// exitPriority orders codes for mixed outcomes (SPEC.md): the first that
// applies wins, permanent before temporary.
var exitPriority = []int{exitUsage, exitNoPerm, exitConfig, exitDataErr, exitNoInput, exitNoHost, exitNoUser, exitUnavailable, exitIOErr, exitTempFail}

// worstCode picks the exit status of several outcomes.
func worstCode(codes ...int) int {
	best, rank := exitOK, len(exitPriority)
	for _, c := range codes {
		if c == exitOK {
			continue
		}
		r := len(exitPriority)
		for i, p := range exitPriority {
			if p == c {
				r = i
			}
		}
		if r < rank || best == exitOK {
			best, rank = c, r
		}
	}
	return best
}
