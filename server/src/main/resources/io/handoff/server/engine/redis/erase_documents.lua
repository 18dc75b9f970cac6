-- Deletes every document, its history, and the write sequences of every device of a user.
-- KEYS: 1 document name set (docs), 2 writing device set (wd), 3 the split guard (the user's channel,
--       never a key: RedisKeys.splitGuard); other keys derive from KEYS[1]:
-- also the durable-ack probe (dw) that releases before wrote under the user's tag (this one writes
-- PREFIX{dw:N}:dw, named for no user), and the document-limit scan mark (dscan).
local base = string.sub(KEYS[1], 1, -5)
for _, doc in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('DEL', base .. 'm:' .. doc, base .. 'f:' .. doc, base .. 'h:' .. doc)
end
for _, dev in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  redis.call('DEL', base .. 's:' .. dev, base .. 'o:' .. dev)
end
redis.call('DEL', KEYS[1], KEYS[2], base .. 'dscan', base .. 'dw')
return 1
