-- Whether a held sign-in of a user can still be approved: the user is not being erased
-- (erasure_mark.lua) and has a live device session on a device other than the one signing in.
-- Asked once the request is stored and noted in the user's index (ApprovalStore.approvable): a yes
-- means any erasure of the user either ended before, leaving the approving session, or still has
-- its pass over the user's requests to come, which finds the request.
-- KEYS: 1 the user's device->session hash (dev), 2 the user's erasure marks (er); session keys
--       derive from KEYS[1] (same hash tag, same slot)
-- ARGV: 1 the device id signing in
-- Returns 1 (approvable), 0 (no other device has a live session) or 2 (an erasure of the user is
-- under way, or its mark outlived it: the node refuses the sign-in, to be sent again).

-- include: part_erasing.lua

if erasing(KEYS[2]) then
  return 2
end
local base = string.sub(KEYS[1], 1, -4)
local devs = redis.call('HGETALL', KEYS[1])
for i = 1, #devs, 2 do
  if devs[i] ~= ARGV[1] then
    local s = redis.call('HMGET', base .. 'ds:' .. devs[i + 1], 'did', 'rev')
    if s[1] and s[2] ~= '1' then
      return 1
    end
  end
end
return 0
