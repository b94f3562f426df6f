// Package vfs is the file-system interface under rskv's storage.
//
// Every byte rskv reads or writes, and every fsync it issues, goes through an
// [FS]. Production code uses [Default], backed by the operating system. Tests
// substitute [NewMem], an in-memory file system that can simulate a crash by
// dropping whatever was not synced, or wrap either in the fault injector of
// package errorfs to make chosen operations fail.
//
// The interface is deliberately small: positioned reads and writes, fsync,
// truncate, rename, remove, directory listing and sync, and an exclusive lock
// file. That is all a log-structured store needs, and keeping it small keeps
// fault injection exhaustive.
package vfs
