// Package checkpoint reads and writes rskv checkpoint files.
//
// A checkpoint is a fuzzy snapshot of the hash index together with the log
// positions that make it usable, in the spirit of FASTER's CPR:
//
//	T1 (Start)  the log tail sampled before the index snapshot, after an epoch
//	            barrier, so that every record below T1 is linked in the index
//	            before the snapshot begins;
//	T2 (End)    the tail sampled after the snapshot; the log was synced past
//	            T2 before the checkpoint file was written, so every address
//	            the snapshot holds is durable.
//
// Recovery loads the index and replays the log from T1 to its end.
//
// File layout: a fixed header (magic, version, identity, positions, shape,
// header CRC-32C), the index snapshot, then a trailer with the CRC-32C of the
// snapshot and an end magic. Files are written to a temporary name, synced,
// renamed and the directory synced, so a checkpoint either exists whole or
// not at all; a damaged one fails its checksums and recovery falls back to an
// older checkpoint or to a full log scan.
package checkpoint
