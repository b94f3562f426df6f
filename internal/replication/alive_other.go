//go:build !unix

package replication

// alive cannot peek without waiting here: a pooled connection is assumed open.
func (c *fwdConn) alive() bool { return c.rd.Buffered() == 0 }
