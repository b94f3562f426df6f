//go:build !unix

package vfs

import "github.com/cockroachdb/errors"

// Unmap releases a mapping made by MapRead (never made on this platform).
func Unmap(b []byte) error { return errors.New("vfs: mmap is not supported on this platform") }
