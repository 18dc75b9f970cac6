-- Revokes the session of one device (ARGV[2] = '0') or of every device but one (ARGV[2] = '1').
-- KEYS: 1 device->session hash (dev), 2 tombstone zset (dt), 3 the split guard (the user's channel,
-- never a key: RedisKeys.splitGuard); other session keys derive from KEYS[1].
-- ARGV: 1 device id, 2 all others, 3 now ms, 4 idle TTL ms
-- Returns the revoked device ids.
local base = string.sub(KEYS[1], 1, -4)
local now = tonumber(ARGV[3])
local idle = tonumber(ARGV[4])
local out = {}
local devs = redis.call('HGETALL', KEYS[1])
for i = 1, #devs, 2 do
  local did, sid = devs[i], devs[i + 1]
  if (ARGV[2] == '1') ~= (did == ARGV[1]) then
    local k = base .. 'ds:' .. sid
    local seen = redis.call('HGET', k, 'seen')
    redis.call('HDEL', KEYS[1], did)
    redis.call('DEL', base .. 'do:' .. sid)
    if seen and now - tonumber(seen) < idle then
      redis.call('HSET', k, 'rev', '1', 'seen', ARGV[3], 'node', '', 'cur', '')
      redis.call('PEXPIRE', k, idle)
      redis.call('ZADD', KEYS[2], now, sid)
      out[#out + 1] = did
    else
      redis.call('DEL', k)
    end
  end
end
if #out > 0 then
  redis.call('PEXPIRE', KEYS[2], idle)
end
return out
