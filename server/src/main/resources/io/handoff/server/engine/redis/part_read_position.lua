-- Part of read.lua and resume.lua, put in where they include it (RedisScript.source).
-- What a device at a position (epoch: 8 bytes or '' for none, version, fingerprint: 8 bytes,
-- zeros when unknown) misses of one document, from its meta hash, fields hash and history list.
-- Returns {'gone'} | {'uptodate', epoch, version, fp} | {'deltas', epoch, version, {payload...}, fp}
--       | {'snapshot', epoch, version, {field, value, ...}, fp, reason}
-- reason: 'none' (no position), 'epoch', 'history' or 'diverged' (same epoch, but the device's
-- version is beyond the document's or has another fingerprint). The caller checks that the first
-- delta's previous fingerprint is the device's.
local no_fingerprint = '\0\0\0\0\0\0\0\0'
local function read_position(meta_key, fields_key, history_key, e, v, f)
  local meta = redis.call('HMGET', meta_key, 'epoch', 'version', 'fp')
  if not meta[2] then
    return {'gone'}
  end
  local epoch = meta[1]
  local version = tonumber(meta[2])
  local fp = meta[3] or no_fingerprint
  local reason = 'history'
  if e == '' then
    reason = 'none'
  elseif e ~= epoch then
    reason = 'epoch'
  elseif v > version then
    reason = 'diverged'
  elseif v == version then
    if f ~= no_fingerprint and fp ~= no_fingerprint and f ~= fp then
      reason = 'diverged'
    else
      return {'uptodate', epoch, version, fp}
    end
  else
    local len = redis.call('LLEN', history_key)
    local missing = version - v
    if missing <= len then
      return {'deltas', epoch, version, redis.call('LRANGE', history_key, len - missing, -1), fp}
    end
  end
  return {'snapshot', epoch, version, redis.call('HGETALL', fields_key), fp, reason}
end
