-- NOT a working write script: a lab probe for bench/tools/script_lab.py. It makes the six Redis calls a
-- one-field write would need if the stored layout changed (the document's meta and fields in one hash,
-- with each field's length beside it; a device's outcomes in slots seq % 1024 of its hash instead of an
-- order list), and the fingerprint's SHA-1, but no limit check, refusal, TTL or trim. What it costs is
-- the least such a layout could cost; what write.lua costs over it is the most such a layout could save.
local seq = ARGV[2]
local seqNumber = seq + 0
local slot = 's:' .. (seqNumber % 1024)
local docField = 'd:' .. ARGV[1]
local dev = redis.call('HMGET', KEYS[5], slot, '_last', '_t', docField)
if dev[1] then
  local at = string.find(dev[1], '|', 1, true)
  if at and string.sub(dev[1], 1, at - 1) == seq then
    return {'dup', dev[1]}
  end
end
local field = ARGV[15]
local meta = redis.call('HMGET', KEYS[1], '\0epoch', '\0version', '\0bytes', '\0fp', '\0t', '\0n',
    '\0l' .. field)
local epoch = meta[1] or ARGV[5]
local version = (meta[2] or 0) + 0 + 1
local previous = meta[4] or '\0\0\0\0\0\0\0\0'
local old = (meta[7] or -1) + 0
local count = (meta[6] or 0) + 0
local bytes = (meta[3] or 0) + 0
if old >= 0 then
  count = count - 1
  bytes = bytes - #field - old
end
count = count + 1
bytes = bytes + #field + #ARGV[16]
local c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13, c14, c15, c16 =
    string.byte(redis.sha1hex(previous .. ARGV[4]), 1, 16)
local fp = string.char(c1 % 39 * 16 + c2 % 39 - 153, c3 % 39 * 16 + c4 % 39 - 153,
    c5 % 39 * 16 + c6 % 39 - 153, c7 % 39 * 16 + c8 % 39 - 153,
    c9 % 39 * 16 + c10 % 39 - 153, c11 % 39 * 16 + c12 % 39 - 153,
    c13 % 39 * 16 + c14 % 39 - 153, c15 % 39 * 16 + c16 % 39 - 153)
local versionText = string.format('%d', version)
if meta[1] and old >= 0 then
  redis.call('HSET', KEYS[1], field, ARGV[16], '\0version', versionText, '\0fp', fp)
else
  redis.call('HSET', KEYS[1], field, ARGV[16], '\0version', versionText, '\0fp', fp, '\0epoch', epoch,
      '\0bytes', bytes, '\0n', count, '\0l' .. field, #ARGV[16])
end
local varint = version < 128 and string.char(version)
    or string.char(version % 128 + 128, math.floor(version / 128))
local payload = ARGV[4] .. '\17' .. epoch .. '\24' .. varint .. '\161\1' .. fp .. '\169\1' .. previous
redis.call('RPUSH', KEYS[3], payload)
redis.call('PUBLISH', KEYS[7], payload)
local outcome = 'A' .. epoch .. fp .. versionText
redis.call('HSET', KEYS[5], slot, seq .. '|' .. outcome, docField, seq, '_last', seq)
return {'ok', epoch, version, fp}
