-- Approves or denies a pending request exactly once.
-- KEYS: 1 request hash
-- ARGV: 1 user, 2 deciding device, 3 "1" approve / "0" deny, 4 now ms, 5 "1" when the request is in
-- the user's request index already
-- Returns {status, first time seen expired "1"/"0", bound to the user now "1"/"0", fields...} with
-- status one of DECIDED ALREADY_DECIDED EXPIRED NOT_FOUND. A request made without a user (a device
-- code nobody looked up) is bound to the deciding user, once it is in the user's index: before, the
-- answer is {'UNBOUND', expires} and nothing changes; the caller notes it there (approval_index.lua)
-- and calls again, so no request is ever the user's without erasure finding it.
local s = redis.call('HMGET', KEYS[1], 'state', 'expires', 'user')
if not s[1] or (s[3] ~= '' and s[3] ~= ARGV[1]) then
  return {'NOT_FOUND', '0', '0'}
end
if s[3] == '' and ARGV[5] ~= '1' then
  return {'UNBOUND', s[2]}
end
local bound = '0'
if s[3] == '' then
  redis.call('HSET', KEYS[1], 'user', ARGV[1])
  bound = '1'
end
local first = '0'
local status
if s[1] == 'PENDING' and tonumber(s[2]) <= tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'state', 'EXPIRED', 'by', '', 'decided', ARGV[4])
  first = '1'
  status = 'EXPIRED'
elseif s[1] == 'EXPIRED' then
  status = 'EXPIRED'
elseif s[1] ~= 'PENDING' then
  status = 'ALREADY_DECIDED'
else
  local state = 'DENIED'
  if ARGV[3] == '1' then
    state = 'APPROVED'
  end
  redis.call('HSET', KEYS[1], 'state', state, 'by', ARGV[2], 'decided', ARGV[4])
  status = 'DECIDED'
end
local out = {status, first, bound}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do
  out[#out + 1] = v
end
return out
