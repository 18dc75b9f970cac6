-- Applies one write atomically. All keys carry the user's hash tag, so they live in one slot.
-- KEYS: 1 meta hash (epoch, version, bytes, n, fp, _t), 2 fields hash, 3 history list, 4 document set,
--       5 device outcomes hash (seq -> outcome, _last, _forgot, _t), 6 device seq order list,
--       7 channel, 8 set of the user's writing devices (for erasure)
-- ARGV: 1 document, 2 client_seq, 3 expected version (-1: none), 4 Delta bytes without epoch and
--       version, 5 epoch for a new document (8 bytes, little-endian), 6 max documents, 7 max fields,
--       8 max document bytes, 9 history length, 10 seq window, 11 idle TTL seconds (0: none),
--       12 device id, 13 now (seconds), 14 document tag ('T' .. 8 bytes, see below),
--       15.. ops as triples (kind 's' or 'r', field, value)
-- Returns {'ok', epoch, version, fingerprint} | {'dup', outcome} | {'refused', outcome[, 1]} |
-- {'stale'}; the 1 says the device had no record of its writes (see the end)
-- Order: KEYS[5] field 'd:' .. document keeps the highest client_seq of the device handled for an
-- existing document; a lower one that is not a duplicate is refused (11, OUT_OF_ORDER). Those at or
-- below '_forgot' decide nothing and are dropped when they pile up (at a trim, below).
-- An outcome is ARGV[14] .. 'A' .. epoch .. fingerprint .. version, or
-- ARGV[14] .. 'r' .. epoch .. 'version|code|message'. ARGV[14] is 'T' and the document's tag
-- (io.handoff.server.sync.DocumentTag, 8 bytes): a 'dup' of another document's tag is refused by
-- the caller, so this script never compares it. Outcomes from before tags ('A' .. and 'r' ..
-- without it, and 'a' .. epoch .. version from before fingerprints) may still be remembered.
-- A version's fingerprint (8 bytes) is the first 8 bytes of SHA-1 over the previous version's
-- fingerprint (zeros if none) and ARGV[4], as io.handoff.server.sync.Fingerprint computes it: one
-- hash of one delta per write, chained through the fingerprint kept in the meta hash.
--
-- Cost: this runs once per write on Redis's one thread, so it makes as few calls as it can (nine
-- for a one-field write to an existing document, most of the time) and builds no table it can do
-- without: the common case of each HSET is a call with its arguments written out. History and the
-- device's write order are trimmed in batches: each grows to a sixteenth past its limit and is
-- then cut back to it, in one call, so most writes trim nothing. Idle TTLs are not refreshed on
-- every write: keys get the TTL plus a slack of TTL/16, and a group of keys (the document's, the
-- device's) is refreshed only once its last refresh (_t) is older than the slack, so a key expires
-- between TTL and TTL + slack after the last write, never earlier. A key this write creates gets
-- its TTL at once.
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

-- Every check below either refuses (code, message) and breaks out of the block, or applies the
-- write; either way the outcome is recorded for the device after it (no closure per call).
local code, message, outcome, answer
local exists = epoch
repeat
  if seqNumber < docLast then
    code = 11
    message = 'client_seq ' .. seq .. ' is older than client_seq ' .. string.format('%d', docLast)
        .. " of this device, already handled for '" .. ARGV[1]
        .. "'; applying it now would undo a newer write, so it was not applied"
    break
  end

  local expected = ARGV[3] == '-1' and -1 or ARGV[3] + 0
  if expected >= 0 and expected ~= version then
    code = 3
    message = 'expected version ' .. ARGV[3] .. " but document '" .. ARGV[1] .. "' is at "
        .. string.format('%d', version)
    break
  end
  if not epoch then
    local docs = redis.call('SCARD', KEYS[4])
    local base = docs >= ARGV[6] + 0 and string.sub(KEYS[4], 1, -5)
    -- At most once a second per user (the 'dscan' key, made with NX for a second, says a scan was
    -- made): each refused write would otherwise look up every name, on Redis's one thread.
    if base and redis.call('SET', base .. 'dscan', '1', 'PX', 1000, 'NX') then
      -- Each document expires on its own, its name staying in the set: names whose meta hash is
      -- gone are dropped (with whatever of their keys is left) before the write is refused.
      for _, name in ipairs(redis.call('SMEMBERS', KEYS[4])) do
        if redis.call('EXISTS', base .. 'm:' .. name) == 0 then
          redis.call('SREM', KEYS[4], name)
          redis.call('DEL', base .. 'f:' .. name, base .. 'h:' .. name)
        end
      end
      docs = redis.call('SCARD', KEYS[4])
    end
    if docs >= ARGV[6] + 0 then
      code = 4
      message = 'user has ' .. docs .. ' documents; the limit is ' .. ARGV[6]
      break
    end
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
  local wasEmpty = count == 0
  local bytes = (meta[3] or 0) + 0
  local storedBytes = bytes
  local sets, removes, oneSet, oneRemove
  if #ARGV == 17 then
    -- One operation, as most writes carry: no tables to find each field's last operation.
    local field = ARGV[16]
    if epoch then
      local old = redis.call('HSTRLEN', KEYS[2], field)
      if old > 0 or redis.call('HEXISTS', KEYS[2], field) == 1 then
        count = count - 1
        bytes = bytes - #field - old
      end
    end
    if ARGV[15] == 's' then
      count = count + 1
      bytes = bytes + #field + #ARGV[17]
      oneSet = field
    else
      oneRemove = field
    end
  else
    -- The last operation on each field decides its value; size the result before changing
    -- anything.
    local effects = {}
    local order = {}
    local i = 15
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
    sets = {}
    removes = {}
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
  end
  if count > ARGV[7] + 0 then
    code = 4
    message = "document '" .. ARGV[1] .. "' would have " .. count .. ' fields; the limit is '
        .. ARGV[7]
    break
  end
  if bytes > ARGV[8] + 0 then
    code = 4
    message = "document '" .. ARGV[1] .. "' would be " .. bytes .. ' bytes; the limit is '
        .. ARGV[8]
    break
  end

  local created = not epoch
  if created then
    epoch = ARGV[5]
    redis.call('SADD', KEYS[4], ARGV[1])
    -- A new history starts empty: nothing of an earlier one (its fields or deltas, should they
    -- have outlived its meta hash) may show in it.
    redis.call('DEL', KEYS[2], KEYS[3])
  end
  local touchDocument = ttl > 0 and (created or now - (meta[5] or 0) >= slack)
  version = version + 1
  local zero = '\0\0\0\0\0\0\0\0'
  local previous = meta[4] or zero
  -- The first 16 hex digits (lower case) as 8 bytes, straight from their character codes: code % 39
  -- is 9..18 for '0'..'9' and 19..24 for 'a'..'f', so a digit is code % 39 - 9 and a byte of two
  -- digits is (c1 % 39) * 16 + c2 % 39 - 153.
  local c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16 =
      string.byte(redis.sha1hex(previous .. ARGV[4]), 1, 16)
  local fp = string.char(c1 % 39 * 16 + c2 % 39 - 153, c3 % 39 * 16 + c4 % 39 - 153,
      c5 % 39 * 16 + c6 % 39 - 153, c7 % 39 * 16 + c8 % 39 - 153,
      c9 % 39 * 16 + c10 % 39 - 153, c11 % 39 * 16 + c12 % 39 - 153,
      c13 % 39 * 16 + c14 % 39 - 153, c15 % 39 * 16 + c16 % 39 - 153)
  if fp == zero then
    fp = '\1\0\0\0\0\0\0\0'
  end
  if oneSet then
    redis.call('HSET', KEYS[2], oneSet, ARGV[17])
  elseif oneRemove then
    redis.call('HDEL', KEYS[2], oneRemove)
  else
    if #sets > 0 then
      redis.call('HSET', KEYS[2], unpack(sets))
    end
    if #removes > 0 then
      redis.call('HDEL', KEYS[2], unpack(removes))
    end
  end

  if wasEmpty and not touchDocument and ttl > 0 and (oneSet or (sets and #sets > 0)) then
    -- The fields hash was empty, so Redis had deleted it; made again here, it takes the TTL of
    -- the document's meta hash, or it would outlive the document.
    redis.call('PEXPIRE', KEYS[2], math.max(redis.call('PTTL', KEYS[1]), 1))
  end

  -- The version as a protobuf varint.
  local varint
  if version < 128 then
    varint = string.char(version)
  elseif version < 16384 then
    varint = string.char(version % 128 + 128, math.floor(version / 128))
  else
    local out = {}
    local n = version
    while n >= 128 do
      out[#out + 1] = string.char(n % 128 + 128)
      n = math.floor(n / 128)
    end
    out[#out + 1] = string.char(n)
    varint = table.concat(out)
  end
  -- Protobuf merges concatenated messages: append epoch (field 2, fixed64), version (field 3),
  -- fingerprint (field 20, fixed64) and previous fingerprint (field 21, fixed64).
  local payload = ARGV[4] .. '\17' .. epoch .. '\24' .. varint .. '\161\1' .. fp .. '\169\1'
      .. previous
  -- History keeps the last ARGV[9] deltas: trimmed back to that once it is a sixteenth over, so
  -- a write trims once in that many instead of every time (it holds up to 1/16 more).
  local keep = ARGV[9] + 0
  local length = redis.call('RPUSH', KEYS[3], payload)
  if length > keep + math.floor(keep / 16) then
    redis.call('LTRIM', KEYS[3], '-' .. ARGV[9], -1)
  end
  redis.call('PUBLISH', KEYS[7], payload)
  -- A meta field is set only if its value changes.
  local versionText = string.format('%d', version)
  if not created and meta[3] and bytes == storedBytes and meta[6] and count == storedCount
      and not touchDocument then
    -- Most writes: only the version and fingerprint change, set without building a table.
    redis.call('HSET', KEYS[1], 'version', versionText, 'fp', fp)
  else
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
    if touchDocument then
      metaSet[#metaSet + 1] = '_t'
      metaSet[#metaSet + 1] = ARGV[13]
    end
    redis.call('HSET', KEYS[1], unpack(metaSet))
  end
  if touchDocument then
    for k = 1, 4 do
      redis.call('EXPIRE', KEYS[k], life)
    end
  end
  outcome = ARGV[14] .. 'A' .. epoch .. fp .. versionText
  answer = {'ok', epoch, version, fp}
  exists = true
until true

if code then
  outcome = ARGV[14] .. 'r' .. shownEpoch .. string.format('%d', version) .. '|' .. code .. '|'
      .. message
  -- A third element when the device had no record (none yet, or its keys expired): the refusal
  -- covers this send only. Not remembered: a re-send is answered from the record made now.
  answer = newDevice and {'refused', outcome, 1} or {'refused', outcome}
end

-- Remembers the outcome of seq for this device (and, for an existing document, seq as the highest
-- handled for it) in one HSET. The device's order list is trimmed back to the window once it is
-- a sixteenth over, in one LRANGE and LTRIM, so a write trims once in that many instead of every
-- time (the device remembers up to 1/16 more writes than the window); the outcomes trimmed are
-- forgotten, and the newest of them is the new '_forgot'.
local length = redis.call('RPUSH', KEYS[6], seq)
local window = ARGV[10] + 0
local last = (dev[3] or 0) + 0
if exists and seqNumber > docLast and seqNumber > last and not newDevice and not touchDevice
    and length <= window + math.floor(window / 16) then
  -- Most writes: the outcome and the two highest numbers, set without building a table.
  redis.call('HSET', KEYS[5], seq, outcome, docField, seq, '_last', seq)
  return answer
end
local set = {seq, outcome}
if exists and seqNumber > docLast then
  set[#set + 1] = docField
  set[#set + 1] = seq
end
if seqNumber > last then
  set[#set + 1] = '_last'
  set[#set + 1] = seq
end
if touchDevice then
  set[#set + 1] = '_t'
  set[#set + 1] = ARGV[13]
end
local old, newest
local limit = window + math.floor(window / 16)
if length > limit then
  old = redis.call('LRANGE', KEYS[6], 0, length - window - 1)
  redis.call('LTRIM', KEYS[6], length - window, -1)
  newest = forgot
  for _, o in ipairs(old) do
    local number = o + 0
    if number > newest then
      newest = number
    end
  end
  if newest > forgot then
    set[#set + 1] = '_forgot'
    set[#set + 1] = newest
  end
end
redis.call('HSET', KEYS[5], unpack(set))
-- After the HSET: a forgotten seq is gone even if it is this one (a window of 0).
if old then
  redis.call('HDEL', KEYS[5], unpack(old))
  -- A 'd:' field whose seq is forgotten decides nothing (any seq that is not stale is above it),
  -- yet the device would keep one per document it ever wrote, also after the document expired.
  -- The fields that can still matter are the window's outcomes, at most one 'd:' field per seq
  -- in it and three more (2 * window + 3); once the hash holds over 3 * limit + 3, the others are
  -- dropped. Only here, once a trim: a device writing few documents never gets past the HLEN,
  -- and one that does wrote to at least `limit` documents it had no field for since it last did,
  -- so each of those writes pays for a few fields of the HGETALL.
  if redis.call('HLEN', KEYS[5]) > 3 * limit + 3 then
    local all = redis.call('HGETALL', KEYS[5])
    local drop = {}
    for i = 1, #all, 2 do
      if string.sub(all[i], 1, 2) == 'd:' and all[i + 1] + 0 <= newest then
        drop[#drop + 1] = all[i]
        if #drop == 1000 then -- unpack takes only so many
          redis.call('HDEL', KEYS[5], unpack(drop))
          drop = {}
        end
      end
    end
    if #drop > 0 then
      redis.call('HDEL', KEYS[5], unpack(drop))
    end
  end
end
if newDevice then
  -- A device's first write (or its first since its keys expired), so rare. The set is renewed by
  -- every device's writes, and would keep each device that ever wrote (a reinstall is a new one)
  -- while any other keeps writing: past 16 devices, those whose keys are gone are dropped when
  -- another one joins.
  if redis.call('SADD', KEYS[8], ARGV[12]) == 1 and redis.call('SCARD', KEYS[8]) > 16 then
    local base = string.sub(KEYS[4], 1, -5)
    for _, d in ipairs(redis.call('SMEMBERS', KEYS[8])) do
      if redis.call('EXISTS', base .. 's:' .. d, base .. 'o:' .. d) == 0 then
        redis.call('SREM', KEYS[8], d)
      end
    end
  end
end
if touchDevice then
  redis.call('EXPIRE', KEYS[5], life)
  redis.call('EXPIRE', KEYS[6], life)
  redis.call('EXPIRE', KEYS[8], life)
end
return answer
