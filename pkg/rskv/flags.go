package rskv

import "github.com/rskv-go/rskv/internal/hlog"

const (
	hlogInvalid   = hlog.FlagInvalid
	hlogTombstone = hlog.FlagTombstone
)
