package server

// epollSupported: the event loops (loop.go) run on Linux.
const epollSupported = true

// defaultIO is Config.IO's default.
const defaultIO = IOEpoll
