// Command rskv benchmarks rskv and inspects rskv stores by hand.
//
// Usage:
//
//	rskv bench [flags]                      load a fresh store in a temporary directory and run YCSB A, B, C, F
//	rskv put --dir DIR KEY VALUE            set a key (creates the store if DIR holds none)
//	rskv get --dir DIR KEY                  print a key's value
//	rskv delete --dir DIR KEY...            delete keys
//	rskv scan --dir DIR [--prefix P]        list keys and values, sorted by key
//	rskv stats --dir DIR [--json]           print the store's statistics and checkpoints
//	rskv checkpoint --dir DIR               take a checkpoint
//	rskv compact --dir DIR                  reclaim the space of dead records
//	rskv services --dir DIR                 start the background services and print the supervisor tree
//
// Every command except put and bench needs an existing store: a directory
// holding a STORE file. A store is open in one process at a time (its LOCK
// file); a command on a store another process holds fails with a message
// saying so. Keys and values are taken and printed as text, or as hex with
// --hex; text that is not printable is printed Go-quoted.
//
// The exit code is 0 on success, 2 for a usage error (unknown flag, wrong
// number of arguments) and 1 for every other error.
package main
