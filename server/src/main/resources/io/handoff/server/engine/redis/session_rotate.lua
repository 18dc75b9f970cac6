-- Rotates a device session's refresh token atomically, or detects the reuse of a rotated-out one
-- (which revokes the session).
-- KEYS: 1 session hash (ds:SID), 2 rotated-out hashes zset (do:SID), 3 device->session hash (dev),
--       4 tombstone zset (dt)
-- ARGV: 1 presented hash, 2 new hash, 3 now ms, 4 refresh inactivity ms, 5 idle TTL ms,
--       6 max rotated-out hashes kept, 7 session id, 8 sealed copy of the new token (hex),
--       9 reuse interval ms (0: off)
-- Returns {outcome, device id[, sealed copy of the current token]} with outcome one of ROTATED
-- RETRIED REUSED REVOKED EXPIRED UNKNOWN. RETRIED: the presented hash is the one the current token
-- replaced, back within the reuse interval; nothing changes. EXPIRED: the session is dead of
-- inactivity and the presented hash is its current one (the session is deleted) or a rotated-out
-- one (nothing changes).
local now = tonumber(ARGV[3])
local idle = tonumber(ARGV[5])
local s = redis.call('HMGET', KEYS[1], 'did', 'rev', 'seen', 'rat', 'cur', 'prv', 'sld')
if not s[1] or now - tonumber(s[3]) >= idle then
  return {'UNKNOWN', ''}
end
local did = s[1]
if s[2] == '1' then
  return {'REVOKED', did}
end

local function revoke()
  redis.call('HSET', KEYS[1], 'rev', '1', 'seen', ARGV[3], 'node', '', 'cur', '')
  redis.call('HDEL', KEYS[1], 'prv', 'sld')
  redis.call('PEXPIRE', KEYS[1], idle)
  redis.call('DEL', KEYS[2])
  if redis.call('HGET', KEYS[3], did) == ARGV[7] then
    redis.call('HDEL', KEYS[3], did)
  end
  redis.call('ZADD', KEYS[4], now, ARGV[7])
  redis.call('PEXPIRE', KEYS[4], idle)
end

if s[5] == ARGV[1] then
  if now - tonumber(s[4]) > tonumber(ARGV[4]) then
    -- Gone, not revoked: later use of its tokens is no anomaly.
    redis.call('DEL', KEYS[1], KEYS[2])
    if redis.call('HGET', KEYS[3], did) == ARGV[7] then
      redis.call('HDEL', KEYS[3], did)
    end
    return {'EXPIRED', did}
  end
  local n = redis.call('HINCRBY', KEYS[1], 'gen', 1)
  redis.call('ZADD', KEYS[2], n, ARGV[1])
  local keep = tonumber(ARGV[6])
  local size = redis.call('ZCARD', KEYS[2])
  if size > keep then
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, size - keep - 1)
  end
  redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'rat', ARGV[3], 'seen', ARGV[3], 'prv', ARGV[1],
    'sld', ARGV[8])
  redis.call('PEXPIRE', KEYS[1], idle)
  redis.call('PEXPIRE', KEYS[2], idle)
  redis.call('PEXPIRE', KEYS[3], idle)
  return {'ROTATED', did}
end
if now - tonumber(s[4]) > tonumber(ARGV[4]) then
  -- Dead of inactivity: a rotated-out token of it is as expired as its current one, not reused
  -- (the session is gone, not revoked). Nothing changes.
  if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
    return {'EXPIRED', did}
  end
  return {'UNKNOWN', ''}
end
local interval = tonumber(ARGV[9])
if interval > 0 and s[6] == ARGV[1] and now - tonumber(s[4]) <= interval then
  return {'RETRIED', did, s[7] or ''}
end
if redis.call('ZSCORE', KEYS[2], ARGV[1]) then
  revoke()
  return {'REUSED', did}
end
return {'UNKNOWN', ''}
