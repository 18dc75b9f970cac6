-- Reads what a device at a position misses of one document, atomically.
-- KEYS: 1 meta hash, 2 fields hash, 3 history list
-- ARGV: 1 the device's epoch (8 bytes, or empty for none), 2 the device's version
-- Returns {'gone'} | {'uptodate', epoch, version} | {'deltas', epoch, version, {payload...}}
--       | {'snapshot', epoch, version, {field, value, ...}}
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'version')
if not meta[2] then
  return {'gone'}
end
local epoch = meta[1]
local version = tonumber(meta[2])
local v = tonumber(ARGV[2])
if ARGV[1] == epoch and v <= version then
  if v == version then
    return {'uptodate', epoch, version}
  end
  local len = redis.call('LLEN', KEYS[3])
  local missing = version - v
  if missing <= len then
    return {'deltas', epoch, version, redis.call('LRANGE', KEYS[3], len - missing, -1)}
  end
end
return {'snapshot', epoch, version, redis.call('HGETALL', KEYS[2])}
