-- Whether this Redis holds an applied write, read by a durable-ack round before its probe
-- (ReplicaWait). KEYS: 1 device outcomes hash, 2 document meta hash, 3 document history list.
-- ARGV: 1 client_seq, 2 the outcome as write.lua records it (after the document's tag),
--       3 the same without the tag (a duplicate of a write recorded before tags),
--       4 epoch, 5 version, 6 fingerprint (8 bytes each but the version, as write.lua keeps them).
-- Returns 1 if the device's outcome record of client_seq is the write's; if there is none (the
-- device wrote past the seq window since, and the record was trimmed), 1 if the document still shows
-- the write: its epoch and, at its version, its fingerprint (the meta hash's, or that of the
-- history's delta of that version: a delta ends with its fingerprint and the previous one, 8 bytes
-- each behind a 2-byte key). 2 if nothing here can tell: no record, and the document of its epoch
-- is past its version beyond what history keeps (or the write has no fingerprint, from before
-- them). Else 0: this Redis does not hold it (another record, another epoch or none, a version it
-- has not reached, or another fingerprint at that version).
local o = redis.call('HGET', KEYS[1], ARGV[1])
if o then
  return (o == ARGV[2] or o == ARGV[3]) and 1 or 0
end
if ARGV[6] == '\0\0\0\0\0\0\0\0' then
  return 2
end
local meta = redis.call('HMGET', KEYS[2], 'epoch', 'version', 'fp')
if meta[1] ~= ARGV[4] or not meta[2] then
  return 0
end
local version = meta[2] + 0
local v = ARGV[5] + 0
if version == v then
  return meta[3] == ARGV[6] and 1 or 0
end
if version < v then
  return 0
end
local delta = redis.call('LINDEX', KEYS[3], v - version - 1)
if not delta then
  return 2
end
return string.sub(delta, -18, -11) == ARGV[6] and 1 or 0
