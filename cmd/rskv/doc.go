// Command rskv benchmarks rskv and inspects rskv stores by hand.
//
// Usage:
//
//	rskv bench [flags]                      load a fresh store in a temporary directory and run YCSB A, B, C, F
//	rskv put --dir DIR KEY VALUE            set a key (creates the store if DIR holds none);
//	                                        VALUE - reads stdin, --value-file F reads F
//	rskv get --dir DIR KEY                  print a key's value
//	rskv delete --dir DIR KEY...            delete keys
//	rskv scan --dir DIR [--prefix P]        list keys and values as found (--sorted: by key, buffered)
//	rskv stats --dir DIR [--json]           print the store's statistics and checkpoints
//	rskv checkpoint --dir DIR               take a checkpoint
//	rskv compact --dir DIR                  reclaim the space of dead records
//	rskv services --dir DIR [--start]       print the supervisor tree (--start: run the services)
//
// Every command except put and bench needs an existing store: a directory
// holding a STORE file. The read commands (get, scan, stats, services
// without --start) open the store read-only: they change no file, and any
// number of them may run at once, in any processes. A command that writes
// runs alone: it fails, with a message saying so, while another process
// holds the store, and so does a read command while a writer does. Keys and
// values are taken and printed as text, or as hex with --hex; text that is
// not printable is printed Go-quoted.
//
// The exit code is 0 on success, 2 for a usage error (unknown flag, wrong
// number of arguments) and 1 for every other error.
package main
