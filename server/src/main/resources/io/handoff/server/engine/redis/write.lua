-- Applies one write atomically. All keys carry the user's hash tag, so they live in one slot.
-- KEYS: 1 meta hash (epoch, version, bytes, n, fp, _t), 2 fields hash, 3 history list, 4 document set,
--       5 device outcomes hash (seq -> outcome, _last, _forgot, _t), 6 device seq order list,
--       7 channel, 8 set of the user's writing devices (for erasure)
-- ARGV: 1 document, 2 client_seq, 3 expected version (-1: none), 4 Delta bytes without epoch and
--       version, 5 epoch for a new document (8 bytes, little-endian), 6 max documents, 7 max fields,
--       8 max document bytes, 9 history length, 10 seq window, 11 idle TTL seconds (0: none),
--       12 device id, 13 now (seconds), 14.. ops as triples (kind 's' or 'r', field, value)
-- Returns {'ok', epoch, version, fingerprint} | {'dup', outcome} | {'refused', outcome} | {'stale'}
-- Order: KEYS[5] field 'd:' .. document keeps the highest client_seq of the device handled for an
-- existing document; a lower one that is not a duplicate is refused (11, OUT_OF_ORDER).
-- An outcome is 'A' .. epoch .. fingerprint .. version, or 'r' .. epoch .. 'version|code|message'
-- ('a' .. epoch .. version from before fingerprints may still be remembered).
-- A version's fingerprint (8 bytes) is the first 8 bytes of SHA-1 over the previous version's
-- fingerprint (zeros if none) and ARGV[4], as io.handoff.server.sync.Fingerprint computes it: one
-- hash of one delta per write, chained through the fingerprint kept in the meta hash.
--
-- Cost: this runs once per write on Redis's one thread, so it makes as few calls as it can (about
-- a dozen for a one-field write). Idle TTLs are not refreshed on every write: keys get the TTL plus
-- a slack of TTL/16, and a group of keys (the document's, the device's) is refreshed only once its
-- last refresh (_t) is older than the slack, so a key expires between TTL and TTL + slack after the
-- last write, never earlier. A key this write creates gets its TTL at once.
-- Numbers: `s + 0` reads a number from a string as tonumber(s) does (the same conversion), but with
-- one strtod instead of two and no function call; `(x or 0) + 0` reads none for an absent field.
-- Numbers go to Redis as strings where the string is at hand (Redis formats a Lua number itself).
local seq = ARGV[2]
local docField = 'd:' .. ARGV[1]
local dev = redis.call('HMGET', KEYS[5], seq, '_forgot', '_last', '_t', docField)
if dev[1] then
  return {'dup', dev[1]}
end
local seqNumber = seq + 0
local forgot = (dev[2] or 0) + 0
local docLast = (dev[5] or 0) + 0
if seqNumber <= forgot then
  return {'stale'}
end

local now = ARGV[13] + 0
local ttl = ARGV[11] + 0
local slack = math.floor(ttl / 16)
local life = ttl + slack
local newDevice = not dev[3]
local touchDevice = ttl > 0 and (newDevice or now - (dev[4] or 0) >= slack)

local meta = redis.call('HMGET', KEYS[1], 'epoch', 'version', 'bytes', 'fp', '_t', 'n')
local epoch = meta[1]
local version = (meta[2] or 0) + 0
local shownEpoch = epoch or '\0\0\0\0\0\0\0\0'

-- Remembers the outcome of seq for this device (and, for an existing document, seq as the
-- highest handled for it), forgetting the oldest beyond the window: one HSET for all of it.
local function record(outcome, exists)
  local length = redis.call('RPUSH', KEYS[6], seq)
  local set = {seq, outcome}
  if exists and seqNumber > docLast then
    set[#set + 1] = docField
    set[#set + 1] = seq
  end
  if seqNumber > (dev[3] or 0) + 0 then
    set[#set + 1] = '_last'
    set[#set + 1] = seq
  end
  if touchDevice then
    set[#set + 1] = '_t'
    set[#set + 1] = ARGV[13]
  end
  local window = ARGV[10] + 0
  local old
  if length > window then
    old = {}
    local newest = forgot
    while length > window do
      local o = redis.call('LPOP', KEYS[6])
      old[#old + 1] = o
      local number = o + 0
      if number > newest then
        newest = number
      end
      length = length - 1
    end
    if newest > forgot then
      set[#set + 1] = '_forgot'
      set[#set + 1] = newest
    end
  end
  redis.call('HSET', KEYS[5], unpack(set))
  -- After the HSET, as before it was merged: a forgotten seq is gone even if it is this one.
  if old then
    redis.call('HDEL', KEYS[5], unpack(old))
  end
  if newDevice then
    redis.call('SADD', KEYS[8], ARGV[12])
  end
  if touchDevice then
    redis.call('EXPIRE', KEYS[5], life)
    redis.call('EXPIRE', KEYS[6], life)
    redis.call('EXPIRE', KEYS[8], life)
  end
end

local function refuse(code, message)
  local out = 'r' .. shownEpoch .. string.format('%d', version) .. '|' .. code .. '|' .. message
  record(out, epoch)
  return {'refused', out}
end

if seqNumber < docLast then
  return refuse(11, 'client_seq ' .. seq .. ' is older than client_seq ' .. string.format('%d', docLast)
      .. " of this device, already handled for '" .. ARGV[1]
      .. "'; applying it now would undo a newer write, so it was not applied")
end

local expected = ARGV[3] == '-1' and -1 or ARGV[3] + 0
if expected >= 0 and expected ~= version then
  return refuse(3, 'expected version ' .. ARGV[3] .. " but document '" .. ARGV[1] .. "' is at "
      .. string.format('%d', version))
end
if not epoch then
  local docs = redis.call('SCARD', KEYS[4])
  if docs >= ARGV[6] + 0 then
    return refuse(4, 'user has ' .. docs .. ' documents; the limit is ' .. ARGV[6])
  end
end

-- The last operation on each field decides its value; size the result before changing anything.
local effects = {}
local order = {}
local i = 14
while i <= #ARGV do
  local field = ARGV[i + 1]
  if effects[field] == nil then
    order[#order + 1] = field
  end
  if ARGV[i] == 's' then
    effects[field] = ARGV[i + 2]
  else
    effects[field] = false
  end
  i = i + 3
end
-- The field count is kept in the meta hash ('n') so a write needs no HLEN; a document last
-- written before it was kept there is counted once.
local count = (meta[6] or -1) + 0
local storedCount = count
if not epoch then
  count = 0
elseif count < 0 then
  count = redis.call('HLEN', KEYS[2])
end
local bytes = (meta[3] or 0) + 0
local storedBytes = bytes
local sets = {}
local removes = {}
for _, field in ipairs(order) do
  if epoch then
    local old = redis.call('HSTRLEN', KEYS[2], field)
    if old > 0 or redis.call('HEXISTS', KEYS[2], field) == 1 then
      count = count - 1
      bytes = bytes - #field - old
    end
  end
  if effects[field] then
    count = count + 1
    bytes = bytes + #field + #effects[field]
    sets[#sets + 1] = field
    sets[#sets + 1] = effects[field]
  else
    removes[#removes + 1] = field
  end
end
if count > ARGV[7] + 0 then
  return refuse(4, "document '" .. ARGV[1] .. "' would have " .. count
      .. ' fields; the limit is ' .. ARGV[7])
end
if bytes > ARGV[8] + 0 then
  return refuse(4, "document '" .. ARGV[1] .. "' would be " .. bytes
      .. ' bytes; the limit is ' .. ARGV[8])
end

local created = not epoch
if created then
  epoch = ARGV[5]
  redis.call('SADD', KEYS[4], ARGV[1])
end
version = version + 1
local zero = '\0\0\0\0\0\0\0\0'
local previous = meta[4] or zero
-- The first 16 hex digits (lower case) as 8 bytes, straight from their character codes: code % 39
-- is 9..18 for '0'..'9' and 19..24 for 'a'..'f', so a digit is code % 39 - 9 and a byte of two
-- digits is (c1 % 39) * 16 + c2 % 39 - 153.
local c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16 =
    string.byte(redis.sha1hex(previous .. ARGV[4]), 1, 16)
local fp = string.char(c1 % 39 * 16 + c2 % 39 - 153, c3 % 39 * 16 + c4 % 39 - 153,
    c5 % 39 * 16 + c6 % 39 - 153, c7 % 39 * 16 + c8 % 39 - 153, c9 % 39 * 16 + c10 % 39 - 153,
    c11 % 39 * 16 + c12 % 39 - 153, c13 % 39 * 16 + c14 % 39 - 153, c15 % 39 * 16 + c16 % 39 - 153)
if fp == zero then
  fp = '\1\0\0\0\0\0\0\0'
end
if #sets > 0 then
  redis.call('HSET', KEYS[2], unpack(sets))
end
if #removes > 0 then
  redis.call('HDEL', KEYS[2], unpack(removes))
end

local function varint(n)
  if n < 128 then
    return string.char(n)
  elseif n < 16384 then
    return string.char(n % 128 + 128, math.floor(n / 128))
  end
  local out = {}
  while n >= 128 do
    out[#out + 1] = string.char(n % 128 + 128)
    n = math.floor(n / 128)
  end
  out[#out + 1] = string.char(n)
  return table.concat(out)
end
-- Protobuf merges concatenated messages: append epoch (field 2, fixed64), version (field 3),
-- fingerprint (field 20, fixed64) and previous fingerprint (field 21, fixed64).
local payload = ARGV[4] .. '\17' .. epoch .. '\24' .. varint(version)
    .. '\161\1' .. fp .. '\169\1' .. previous
local length = redis.call('RPUSH', KEYS[3], payload)
if length > ARGV[9] + 0 then
  redis.call('LTRIM', KEYS[3], '-' .. ARGV[9], -1)
end
redis.call('PUBLISH', KEYS[7], payload)
-- A meta field is set only if its value changes.
local versionText = string.format('%d', version)
local metaSet = {'version', versionText, 'fp', fp}
if created then
  metaSet[5] = 'epoch'
  metaSet[6] = epoch
end
if not meta[3] or bytes ~= storedBytes then
  metaSet[#metaSet + 1] = 'bytes'
  metaSet[#metaSet + 1] = bytes
end
if not meta[6] or count ~= storedCount then
  metaSet[#metaSet + 1] = 'n'
  metaSet[#metaSet + 1] = count
end
-- The document's keys (meta, fields, history, document set) are refreshed when due.
local touchDocument = ttl > 0 and (created or now - (meta[5] or 0) >= slack)
if touchDocument then
  metaSet[#metaSet + 1] = '_t'
  metaSet[#metaSet + 1] = ARGV[13]
end
redis.call('HSET', KEYS[1], unpack(metaSet))
if touchDocument then
  for k = 1, 4 do
    redis.call('EXPIRE', KEYS[k], life)
  end
end
record('A' .. epoch .. fp .. versionText, true)
return {'ok', epoch, version, fp}
