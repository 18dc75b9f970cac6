-- Reads what a device at a position misses of one document, atomically.
-- KEYS: 1 meta hash, 2 fields hash, 3 history list
-- ARGV: 1 the device's epoch (8 bytes, or empty for none), 2 the device's version, 3 the
--       fingerprint of the device's version (8 bytes, zeros when unknown)
-- Returns {'gone'} | {'uptodate', epoch, version, fp} | {'deltas', epoch, version, {payload...}, fp}
--       | {'snapshot', epoch, version, {field, value, ...}, fp, reason}
-- reason: 'none' (no position), 'epoch', 'history' or 'diverged' (same epoch, but the device's
-- version is beyond the document's or has another fingerprint). The caller checks that the first
-- delta's previous fingerprint is the device's.
local zero = '\0\0\0\0\0\0\0\0'
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'version', 'fp')
if not meta[2] then
  return {'gone'}
end
local epoch = meta[1]
local version = tonumber(meta[2])
local fp = meta[3] or zero
local v = tonumber(ARGV[2])
local reason = 'history'
if ARGV[1] == '' then
  reason = 'none'
elseif ARGV[1] ~= epoch then
  reason = 'epoch'
elseif v > version then
  reason = 'diverged'
elseif v == version then
  if ARGV[3] ~= zero and fp ~= zero and ARGV[3] ~= fp then
    reason = 'diverged'
  else
    return {'uptodate', epoch, version, fp}
  end
else
  local len = redis.call('LLEN', KEYS[3])
  local missing = version - v
  if missing <= len then
    return {'deltas', epoch, version, redis.call('LRANGE', KEYS[3], len - missing, -1), fp}
  end
end
return {'snapshot', epoch, version, redis.call('HGETALL', KEYS[2]), fp, reason}
