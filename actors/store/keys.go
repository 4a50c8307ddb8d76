package store

import "encoding/binary"

// Record type tags, the first byte of every key (see the layout in doc.go).
const (
	tagConfig  byte = 'c'
	tagLog     byte = 'l'
	tagApplied byte = 'a'
	tagData    byte = 'd'
	tagLock    byte = 'k'
	tagFlush   byte = 'f'
	tagMeta    byte = 'm'
)

// shardTags lists every record type kept per shard, for DeleteShard.
var shardTags = [...]byte{tagConfig, tagLog, tagApplied, tagData, tagLock, tagFlush, tagLiveKeys, tagLiveBytes, tagLogStart, tagDedup, tagInstalling, tagTxn, tagRange, tagGC, tagScan}

// Data record kinds, the first byte of a data record's value.
const (
	kindValue     byte = 0x01
	kindTombstone byte = 0x02
	// kindExpiring is a value with a time to live: its expiry, u64 unix
	// milliseconds of TSO time, then the user value.
	kindExpiring byte = 0x03
)

const (
	shardPrefixLen = 1 + 4 // tag + shard
	tsLen          = 8
	seqLen         = 8
)

// shardKey is tag + shard: the whole key of one-per-shard records and the
// prefix of the others.
func shardKey(tag byte, shard uint32) []byte {
	k := make([]byte, 0, shardPrefixLen+seqLen)
	return binary.BigEndian.AppendUint32(append(k, tag), shard)
}

func logKey(shard uint32, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(shardKey(tagLog, shard), seq)
}

// logUpper is the exclusive upper bound of the log entries up to seq.
func logUpper(shard uint32, seq uint64) []byte {
	if seq == ^uint64(0) {
		return prefixEnd(shardKey(tagLog, shard))
	}
	return logKey(shard, seq+1)
}

// appendEscaped appends key escaped: 0x00 -> 0x00 0xFF, then 0x00 0x01. The
// result orders like key and is never a prefix of another escaped key.
func appendEscaped(dst, key []byte) []byte {
	for _, c := range key {
		if c == 0x00 {
			dst = append(dst, 0x00, 0xFF)
		} else {
			dst = append(dst, c)
		}
	}
	return append(dst, 0x00, 0x01)
}

// keyedPrefix is tag + shard + escaped key: a lock record's key, and the
// prefix shared by exactly one user key's data versions.
func keyedPrefix(tag byte, shard uint32, key []byte) []byte {
	k := make([]byte, 0, shardPrefixLen+len(key)+2+tsLen)
	k = binary.BigEndian.AppendUint32(append(k, tag), shard)
	return appendEscaped(k, key)
}

// appendTS appends ^ts so that newer versions sort first.
func appendTS(dst []byte, ts uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, ^ts)
}

func dataKey(shard uint32, key []byte, ts uint64) []byte {
	return appendTS(keyedPrefix(tagData, shard, key), ts)
}

// dataKeyTS decodes the timestamp of a data key.
func dataKeyTS(k []byte) uint64 {
	return ^binary.BigEndian.Uint64(k[len(k)-tsLen:])
}

func metaKey(name string) []byte {
	return append([]byte{tagMeta}, name...)
}

// prefixEnd is the smallest key greater than every key starting with p, or
// nil (no upper bound) when p is all 0xFF.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
