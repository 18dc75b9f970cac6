-- Marks a live (not revoked, not idle) session seen now, connected to a node or disconnected
-- from it.
-- KEYS: 1 session hash (ds:SID), 2 device->session hash (dev), 3 rotated-out hashes zset (do:SID)
-- ARGV: 1 now ms, 2 node, 3 connected '1'|'0', 4 idle TTL ms
local s = redis.call('HMGET', KEYS[1], 'rev', 'node', 'seen')
if not s[1] or s[1] == '1' then
  return 0
end
-- Idle for the idle TTL by the engine's clock: gone, as status and rotate read it, even while a
-- connection made before is open. Being seen now does not bring it back.
if not s[3] or tonumber(ARGV[1]) - tonumber(s[3]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('HSET', KEYS[1], 'seen', ARGV[1])
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'node', ARGV[2])
elseif s[2] == ARGV[2] then
  redis.call('HSET', KEYS[1], 'node', '')
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
-- The rotated-out hashes live as long as the session, so a reused token is recognised (and revokes
-- it) as long as the session lives, not only for one idle TTL after the last rotation.
redis.call('PEXPIRE', KEYS[3], ARGV[4])
return 1
