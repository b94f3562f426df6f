//go:build !linux

package vfs

func adviseMapping([]byte, Advice) error { return nil }
