package fileformat

// A backup stream (rskv.Store.Backup, rskv.Restore) is not a file of a
// store directory but it is framed like one. All integers little endian:
//
//	header   BackupHeader frame (68 bytes). Store id: the source store.
//	         Body: [0,8) cut: the log address T the copy is consistent with
//	         (every key's newest version below T); [8,16) time of the cut,
//	         Unix nanoseconds; [16,24) applied index: the replication log
//	         index the copy includes (0: none; for raft snapshots); [24,32)
//	         the source log's begin address; [32,40) reserved, zero.
//	chunks   each: BackupChunkTag (4) | payload length u32 | entry count u32 |
//	         CRC-32C of the length, count and payload u32 | payload.
//	         An entry: key length uvarint | value length uvarint |
//	         expiry uvarint (Unix nanoseconds, 0: none) | key | value.
//	trailer  BackupTrailerTag (4) | entry count u64 | bytes of the stream
//	         before the trailer u64 | CRC-32C of every byte of the stream
//	         before this field u32.
//
// A reader refuses the stream unless every chunk, the count, the length and
// the whole-stream checksum match and the stream ends right after the
// trailer: a truncated or altered stream is detected, never half restored.
// The cut, time and applied index make a backup a point a later
// incremental backup (the log from T on) can continue from.
var BackupHeader = Kind{What: "backup", Magic: "RSKVBACK", Version: 1, Length: 68, BodySize: 40}

const (
	// BackupChunkTag starts each chunk of a backup stream.
	BackupChunkTag = "CHNK"
	// BackupTrailerTag starts a backup stream's trailer.
	BackupTrailerTag = "END\x00"
	// BackupChunkHeaderSize is the size of a chunk's frame before its payload.
	BackupChunkHeaderSize = 16
	// BackupTrailerSize is the size of the trailer.
	BackupTrailerSize = 24
	// BackupMaxChunk bounds a chunk's payload, so that a damaged length
	// cannot make a reader allocate without limit.
	BackupMaxChunk = 1 << 30
)
