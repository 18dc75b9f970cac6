-- Applies one write atomically. All keys carry the user's hash tag, so they live in one slot.
-- KEYS: 1 meta hash (epoch, version, bytes, fp), 2 fields hash, 3 history list, 4 document set,
--       5 device outcomes hash (seq -> outcome, _last, _forgot), 6 device seq order list, 7 channel,
--       8 set of the user's writing devices (for erasure)
-- ARGV: 1 document, 2 client_seq, 3 expected version (-1: none), 4 Delta bytes without epoch and
--       version, 5 epoch for a new document (8 bytes, little-endian), 6 max documents, 7 max fields,
--       8 max document bytes, 9 history length, 10 seq window, 11 idle TTL seconds (0: none),
--       12 device id, 13.. ops as triples (kind 's' or 'r', field, value)
-- Returns {'ok', epoch, version, fingerprint} | {'dup', outcome} | {'refused', outcome} | {'stale'}
-- Order: KEYS[5] field 'd:' .. document keeps the highest client_seq of the device handled for an
-- existing document; a lower one that is not a duplicate is refused (11, OUT_OF_ORDER).
-- An outcome is 'A' .. epoch .. fingerprint .. version, or 'r' .. epoch .. 'version|code|message'
-- ('a' .. epoch .. version from before fingerprints may still be remembered).
-- A version's fingerprint (8 bytes) is the first 8 bytes of SHA-1 over the previous version's
-- fingerprint (zeros if none) and ARGV[4], as io.handoff.server.sync.Fingerprint computes it.
local seq = ARGV[2]
local prior = redis.call('HGET', KEYS[5], seq)
if prior then
  return {'dup', prior}
end
local forgot = tonumber(redis.call('HGET', KEYS[5], '_forgot') or '0')
if tonumber(seq) <= forgot then
  return {'stale'}
end

local ttl = tonumber(ARGV[11])
local function touch()
  if ttl > 0 then
    for k = 1, 6 do
      redis.call('EXPIRE', KEYS[k], ttl)
    end
    redis.call('EXPIRE', KEYS[8], ttl)
  end
end

local docLast = tonumber(redis.call('HGET', KEYS[5], 'd:' .. ARGV[1]) or '0')

local function record(outcome, exists)
  redis.call('SADD', KEYS[8], ARGV[12])
  redis.call('HSET', KEYS[5], seq, outcome)
  if exists and tonumber(seq) > docLast then
    redis.call('HSET', KEYS[5], 'd:' .. ARGV[1], seq)
  end
  local last = tonumber(redis.call('HGET', KEYS[5], '_last') or '0')
  if tonumber(seq) > last then
    redis.call('HSET', KEYS[5], '_last', seq)
  end
  redis.call('RPUSH', KEYS[6], seq)
  local window = tonumber(ARGV[10])
  while redis.call('LLEN', KEYS[6]) > window do
    local old = redis.call('LPOP', KEYS[6])
    redis.call('HDEL', KEYS[5], old)
    if tonumber(old) > forgot then
      forgot = tonumber(old)
      redis.call('HSET', KEYS[5], '_forgot', old)
    end
  end
end

local meta = redis.call('HMGET', KEYS[1], 'epoch', 'version', 'bytes', 'fp')
local epoch = meta[1]
local version = tonumber(meta[2] or '0')
local shownEpoch = epoch or '\0\0\0\0\0\0\0\0'

local function refuse(code, message)
  local out = 'r' .. shownEpoch .. string.format('%d', version) .. '|' .. code .. '|' .. message
  record(out, epoch)
  touch()
  return {'refused', out}
end

if tonumber(seq) < docLast then
  return refuse(11, 'client_seq ' .. seq .. ' is older than client_seq ' .. string.format('%d', docLast)
      .. " of this device, already handled for '" .. ARGV[1]
      .. "'; applying it now would undo a newer write, so it was not applied")
end

local expected = tonumber(ARGV[3])
if expected >= 0 and expected ~= version then
  return refuse(3, 'expected version ' .. ARGV[3] .. " but document '" .. ARGV[1] .. "' is at "
      .. string.format('%d', version))
end
if not epoch then
  local docs = redis.call('SCARD', KEYS[4])
  if docs >= tonumber(ARGV[6]) then
    return refuse(4, 'user has ' .. docs .. ' documents; the limit is ' .. ARGV[6])
  end
end

-- The last operation on each field decides its value; size the result before changing anything.
local effects = {}
local order = {}
local i = 13
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
local count = redis.call('HLEN', KEYS[2])
local bytes = tonumber(meta[3] or '0')
for _, field in ipairs(order) do
  if redis.call('HEXISTS', KEYS[2], field) == 1 then
    count = count - 1
    bytes = bytes - #field - redis.call('HSTRLEN', KEYS[2], field)
  end
  if effects[field] then
    count = count + 1
    bytes = bytes + #field + #effects[field]
  end
end
if count > tonumber(ARGV[7]) then
  return refuse(4, "document '" .. ARGV[1] .. "' would have " .. count
      .. ' fields; the limit is ' .. ARGV[7])
end
if bytes > tonumber(ARGV[8]) then
  return refuse(4, "document '" .. ARGV[1] .. "' would be " .. bytes
      .. ' bytes; the limit is ' .. ARGV[8])
end

if not epoch then
  epoch = ARGV[5]
  redis.call('SADD', KEYS[4], ARGV[1])
end
version = version + 1
local zero = '\0\0\0\0\0\0\0\0'
local previous = meta[4] or zero
local hex = redis.sha1hex(previous .. ARGV[4])
local fpBytes = {}
for j = 1, 16, 2 do
  fpBytes[#fpBytes + 1] = string.char(tonumber(string.sub(hex, j, j + 1), 16))
end
local fp = table.concat(fpBytes)
if fp == zero then
  fp = '\1\0\0\0\0\0\0\0'
end
for _, field in ipairs(order) do
  if effects[field] then
    redis.call('HSET', KEYS[2], field, effects[field])
  else
    redis.call('HDEL', KEYS[2], field)
  end
end
redis.call('HSET', KEYS[1], 'epoch', epoch, 'version', version, 'bytes', bytes, 'fp', fp)

local function varint(n)
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
redis.call('RPUSH', KEYS[3], payload)
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[9]), -1)
redis.call('PUBLISH', KEYS[7], payload)
record('A' .. epoch .. fp .. string.format('%d', version), true)
touch()
return {'ok', epoch, version, fp}
