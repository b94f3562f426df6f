package rskv

import hlog "github.com/rskv-go/rskv/log"

const (
	hlogInvalid   = hlog.FlagInvalid
	hlogTombstone = hlog.FlagTombstone
)
