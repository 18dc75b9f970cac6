-- Counts one failed attempt in a window that starts with the first.
-- KEYS: 1 counter
-- ARGV: 1 window ms
-- Returns the count.
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
