-- Everything a device's Hello needs, in one call (ResumeStore): the device session's status, the
-- device's last applied write, where each followed document stands for the device, and the user's
-- activities, live offers, presence (this device marked online first), recently ended offers
-- (recording the expiry of those that passed their deadline with nobody ending them) and how many
-- of its new-device sign-in requests are pending (so the Welcome reads them only if there are some).
-- Every key is the user's (one hash tag, one Cluster slot); the keys of each document and offer
-- derive from KEYS[1], as in erase_documents.lua.
-- KEYS: 1 docs set, 2 the device's outcome hash (s:DEVICE), 3 the device session hash (ds:SID;
--       unused when ARGV[1] is ''), 4 presence hash, 5 activities hash, 6 live offers zset,
--       7 ended offers zset, 8 the split guard (the user's channel, never a key: RedisKeys.splitGuard),
--       9 the user's pending sign-in requests zset (ap: id by deadline, as RedisApprovalStore#pending)
-- ARGV: 1 check the session: its refresh inactivity ms, or '' for no check, 2 device, 3 connection, 4 now ms, 5 presence deadline ms,
--       6 max devices, 7 presence key lifetime ms, 8 session idle TTL ms, 9 '(' .. now (live
--       offers' lower bound), 10 '(' .. (now - ended retention), 11 max recently ended,
--       12 the connection's Hello instance (unsigned decimal), 13 number of names N, 14.. names, then number of prefixes P, prefixes, then number of
--       positions Q, then per position: document, epoch (8 bytes, '' for none), version,
--       fingerprint (8 bytes, zeros when unknown), then the reply's budget: the bytes of fields and
--       deltas past which the documents left are not read here
-- Returns {session, last_seq, docs, activities, offers, presence, ended, approvals}:
--   session: {} when not checked, else {did, rev, seen, rat}; when the session is not alive for the
--            device the reply is {session} alone and nothing was changed
--   docs: {name, read reply, name, read reply, ...}, each read reply as read.lua's, or {'later'}
--         once the documents before it brought more bytes than the budget (the caller reads it)
--   activities: HGETALL of the activities hash; presence: HGETALL of the presence hash
--   offers: the Offer bytes of every live offer; ended: {o, st, by, end} per recently ended offer
--           (st 0: it passed its deadline with nobody ending it, and this call recorded it expired)
--   approvals: how many requests in the ap zset have a deadline after now (RedisApprovalStore#pending
--              reads the same range); the last element, so a reply without it parses as unknown
local base = string.sub(KEYS[1], 1, -5)
local now = tonumber(ARGV[4])
local zero = '\0\0\0\0\0\0\0\0'

local session = {}
if ARGV[1] ~= '' then
  local s = redis.call('HMGET', KEYS[3], 'did', 'rev', 'seen', 'rat')
  session = s
  -- Not alive: gone, idle, revoked, another device's, or dead of inactivity (its refresh token
  -- unused for longer than the limit).
  if not s[1] or not s[3] or now - tonumber(s[3]) >= tonumber(ARGV[8]) or s[2] == '1'
      or s[1] ~= ARGV[2] or (s[4] and now - tonumber(s[4]) > tonumber(ARGV[1])) then
    return {session}
  end
end

-- The device online through this connection (presence.lua's 'up').
-- include: part_presence_up.lua
presence_up(KEYS[4], ARGV[2], ARGV[3], ARGV[12], ARGV[4], ARGV[5], ARGV[6], ARGV[7])

-- The follow filter and the positions.
local i = 13
local names = {}
for _ = 1, tonumber(ARGV[i]) do
  i = i + 1
  names[ARGV[i]] = true
end
i = i + 1
local prefixes = {}
for _ = 1, tonumber(ARGV[i]) do
  i = i + 1
  prefixes[#prefixes + 1] = ARGV[i]
end
local function follows(name)
  if names[name] then
    return true
  end
  for _, p in ipairs(prefixes) do
    if string.sub(name, 1, #p) == p then
      return true
    end
  end
  return false
end
i = i + 1
local positions = {}
local order = {}
for _ = 1, tonumber(ARGV[i]) do
  local doc = ARGV[i + 1]
  if positions[doc] == nil then
    order[#order + 1] = doc
  end
  positions[doc] = {ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]}
  i = i + 4
end
local budget = tonumber(ARGV[i + 1])

-- One document from a position (read.lua), unless those before it used up the reply's budget: a
-- user's documents may add up to far more than one reply should carry (Redis runs nothing else
-- while it builds it, and the node waits for all of it within one command's timeout).
-- include: part_read_position.lua
local spent = 0
local function read(doc, e, v, f)
  if spent > budget then
    return {'later'}
  end
  local r = read_position(base .. 'm:' .. doc, base .. 'f:' .. doc, base .. 'h:' .. doc, e, v, f)
  if r[1] == 'deltas' or r[1] == 'snapshot' then
    for _, x in ipairs(r[4]) do
      spent = spent + #x
    end
  end
  return r
end

local docs = {}
for _, doc in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if positions[doc] == nil and follows(doc) then
    docs[#docs + 1] = doc
    docs[#docs + 1] = read(doc, '', 0, zero)
  end
end
for _, doc in ipairs(order) do
  local p = positions[doc]
  docs[#docs + 1] = doc
  docs[#docs + 1] = read(doc, p[1], tonumber(p[2]), p[3])
end

local offers = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], ARGV[9], '+inf')) do
  local o = redis.call('HMGET', base .. 'of:' .. id, 'o', 'st')
  if o[1] and o[2] == '0' then
    offers[#offers + 1] = o[1]
  end
end

local ids = redis.call('ZRANGEBYSCORE', KEYS[7], ARGV[10], '+inf')
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[6], ARGV[10], ARGV[4])) do
  ids[#ids + 1] = id
end
local ended = {}
for k = math.max(1, #ids - tonumber(ARGV[11]) + 1), #ids do
  local h = base .. 'of:' .. ids[k]
  local e = redis.call('HMGET', h, 'o', 'st', 'by', 'end', 'exp')
  if e[2] == '0' then
    -- Past its deadline with nobody ending it: the device is told it expired, so the hash says so
    -- too, and no later call (from a node whose clock is behind) may end it otherwise. Returned
    -- with st 0 still: this call ended it.
    redis.call('HSET', h, 'st', '4', 'by', '', 'end', e[5])
  end
  ended[#ended + 1] = {e[1], e[2], e[3], e[4]}
end

return {session, redis.call('HGET', KEYS[2], '_last') or '', docs,
  redis.call('HGETALL', KEYS[5]), offers, redis.call('HGETALL', KEYS[4]), ended,
  redis.call('ZCOUNT', KEYS[9], ARGV[9], '+inf')}
