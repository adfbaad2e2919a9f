//go:build !linux

package spool

import "os"

func startWriteback(*os.File) {}
