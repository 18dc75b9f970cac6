-- Takes back one attempt counted by attempt_fail.lua: the attempt turned out right (or was refused
-- before it looked anything up). Never below zero; nothing once the window ended (the key expired).
-- KEYS: 1 counter
-- Returns the count.
local n = redis.call('GET', KEYS[1])
if n and n + 0 > 0 then
  return redis.call('DECR', KEYS[1])
end
return 0
