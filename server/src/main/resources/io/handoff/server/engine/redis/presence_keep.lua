-- The presence keeper's call for one user, once per period: refreshes the user's devices online
-- through this node, then reads every entry of the user, in one round trip.
-- KEYS[1] the user's presence hash.
-- ARGV: now ms, deadline ms, max devices, key lifetime ms, then (device, connection, instance,
-- since ms) quadruples, instance the connection's Hello instance and since when it came online.
-- The keeper named each connection while it was open, but the call may reach Redis after the
-- connection closed (its offline came first) or after the device came online through another
-- connection, maybe on another node, and even left it: such an entry is newer news than this call,
-- and is left alone. A device's entry is refreshed when it is missing, when it is online through
-- this connection, or when another connection holds it that stopped being refreshed (online past
-- its deadline) or went offline before this connection came online, or was taken back (offline
-- with deadline 0: a resume that failed, whose script ran late, presence.lua 'back'; it may have
-- overwritten this connection's entry, and its last-seen time is another node's clock).
-- Returns the hash as HGETALL does (field, value, ...).
-- include: part_presence_up.lua
local now = tonumber(ARGV[1])
for i = 5, #ARGV, 4 do
  local v = redis.call('HGET', KEYS[1], ARGV[i])
  local refresh = true
  if v then
    local on, conn, seen, dl = parse_presence(v)
    if not on then
      refresh = true -- not an entry this engine wrote: replaced
    elseif conn == ARGV[i + 1] then
      refresh = on == '1'
    elseif on == '1' then
      refresh = tonumber(dl) <= now
    else
      refresh = tonumber(dl) == 0 or tonumber(seen) < tonumber(ARGV[i + 3])
    end
  end
  if refresh then
    presence_up(KEYS[1], ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
  end
end
return redis.call('HGETALL', KEYS[1])
