//go:build !linux

package server

// Without epoll every connection has its own goroutine (Config.IO is
// IOGoroutine whatever was asked).
const (
	epollSupported = false
	defaultIO      = IOGoroutine
)

type evloop struct{}

func (s *Server) ioEpoll() bool            { return false }
func (s *Server) startLoops()              {}
func (s *Server) adopt(*client) bool       { return false }
func (s *Server) shutdownLoops(abort bool) {}
func (s *Server) stopLoops()               {}
func (s *Server) quiesce()                 {}
