-- Creates a device session, replacing (revoking) the device's previous one, refusing one more
-- device beyond the limit. All keys carry the user's hash tag; the keys of other sessions of the
-- user are derived from KEYS[1] (same tag, same slot).
-- KEYS: 1 device->session hash (PREFIX{user}:dev), 2 tombstone zset (dt), 3 new session hash (ds:SID),
--       4 the split guard (the user's channel, never a key: RedisKeys.splitGuard)
-- ARGV: 1 session id, 2 device id, 3 name, 4 platform, 5 refresh hash, 6 now ms, 7 max devices,
--       8 idle TTL ms, 9 refresh inactivity ms
-- Returns {limitReached 0|1, devices, replaced session id or ''}
local base = string.sub(KEYS[1], 1, -4)
local now = tonumber(ARGV[6])
local idle = tonumber(ARGV[8])
local max = tonumber(ARGV[7])
local inactivity = tonumber(ARGV[9])

local function revoke(sid)
  local k = base .. 'ds:' .. sid
  if redis.call('EXISTS', k) == 1 then
    redis.call('HSET', k, 'rev', '1', 'seen', ARGV[6], 'node', '', 'cur', '')
    redis.call('PEXPIRE', k, idle)
    redis.call('ZADD', KEYS[2], now, sid)
  end
  redis.call('DEL', base .. 'do:' .. sid)
end

-- Forget devices whose session is gone or idle, and other devices whose session is dead of
-- inactivity (its refresh token unused for longer than the limit: gone, as rotate would find it).
local devs = redis.call('HGETALL', KEYS[1])
for i = 1, #devs, 2 do
  local s = redis.call('HMGET', base .. 'ds:' .. devs[i + 1], 'seen', 'rat')
  if not s[1] or now - tonumber(s[1]) >= idle
      or (devs[i] ~= ARGV[2] and s[2] and now - tonumber(s[2]) > inactivity) then
    redis.call('HDEL', KEYS[1], devs[i])
    redis.call('DEL', base .. 'ds:' .. devs[i + 1], base .. 'do:' .. devs[i + 1])
  end
end

local old = redis.call('HGET', KEYS[1], ARGV[2])
local count = redis.call('HLEN', KEYS[1])
if not old and count >= max then
  return {1, count, ''}
end
if old then
  revoke(old)
else
  count = count + 1
end
redis.call('HSET', KEYS[3], 'did', ARGV[2], 'name', ARGV[3], 'platform', ARGV[4],
  'created', ARGV[6], 'seen', ARGV[6], 'rat', ARGV[6], 'cur', ARGV[5], 'rev', '0', 'node', '')
redis.call('PEXPIRE', KEYS[3], idle)
redis.call('HSET', KEYS[1], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], idle)
-- Tombstones: at most max, each for one idle TTL.
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - idle)
while redis.call('ZCARD', KEYS[2]) > max do
  local t = redis.call('ZPOPMIN', KEYS[2])
  redis.call('DEL', base .. 'ds:' .. t[1])
end
redis.call('PEXPIRE', KEYS[2], idle)
return {0, count, old or ''}
