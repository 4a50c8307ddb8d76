package data

import (
	"fmt"
	"math"

	clustermap "castkv/actors/cluster"
	"castkv/actors/command"
	"castkv/actors/wire"
)

// maxScanReplyBytes bounds the key bytes of one SCAN or KEYS reply from a
// shard, well below the frame limit: a SCAN stops early (its cursor says
// where), a KEYS is refused.
const maxScanReplyBytes = 16 << 20

// scan answers SCAN from the cursor's place, or KEYS over the whole shard,
// with the keys live at ts (rule lease-read: the primary serves it under
// its lease, from its applied state). A SCAN whose cursor is in slots this
// shard does not hold is refused STALE_CONFIG: the API server routes by
// an older map, and retries with a newer one.
func (r *replica) scan(cmd *command.Command, ts uint64) (*wire.Reply, wire.Status) {
	start, end := clustermap.SlotRange(r.config)
	from, limit := wire.ScanCursor(start, 0), math.MaxInt // KEYS
	if cmd.Kind == command.Scan {
		from, limit = cmd.ScanFrom(), cmd.ScanCount()
		if slot, _ := wire.SplitCursor(from); slot < start || slot >= end {
			return nil, wire.Status_STALE_CONFIG
		}
	}
	var keys [][]byte
	size := 0
	next, err := r.s.st.ScanFrom(r.shard, from, end, limit, func(key []byte) (bool, error) {
		if !cmd.ScanWants(key) {
			return false, nil
		}
		v, err := r.s.st.GetVersionFlushed(r.shard, key, math.MaxUint64, r.flushed)
		if err != nil || !v.Found || wire.Expired(v.ExpireMs, ts) {
			return false, err
		}
		keys = append(keys, key)
		size += len(key)
		return size >= maxScanReplyBytes, nil
	})
	r.s.must(err, "scan the shard's keys")
	if cmd.Kind == command.KeysMatching {
		if size >= maxScanReplyBytes || len(keys) > command.MaxKeysReply {
			return command.Error(fmt.Sprintf("ERR KEYS would answer with more than %d keys or %d MiB from shard %d; use SCAN", command.MaxKeysReply, maxScanReplyBytes>>20, r.shard)), wire.Status_OK
		}
		elems := make([]*wire.Reply, len(keys))
		for i, k := range keys {
			elems[i] = command.Bulk(k)
		}
		return command.Array(elems...), wire.Status_OK
	}
	return command.ScanReply(next, keys), wire.Status_OK // next is 0 at the keyspace's end
}
