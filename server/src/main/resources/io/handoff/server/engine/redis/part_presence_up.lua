-- Part of presence.lua (its 'up'), presence_keep.lua and resume.lua, put in where they include
-- it (RedisScript.source).
-- A device's presence entry is "online|connection|instance|last_seen_ms|deadline_ms" in the user's
-- hash, instance the Hello instance of the connection (unsigned decimal, 0 none). An entry written
-- before instances, "online|connection|last_seen_ms|deadline_ms", reads instance '0'; a node of
-- that release reads "connection|instance" as the connection, which names none of its own.
-- Returns online, connection, last seen, deadline, instance (strings), or nil if not an entry.
local function parse_presence(v)
  local on, conn, inst, seen, dl = string.match(v, '^(%d)|([^|]*)|(%d+)|(%d+)|(%d+)$')
  if on then
    return on, conn, seen, dl, inst
  end
  on, conn, seen, dl = string.match(v, '^(%d)|(.*)|(%d+)|(%d+)$')
  return on, conn, seen, dl, '0'
end
-- The device online through this connection, whose Hello instance is instance, until the deadline
-- (now and deadline in ms, as strings); makes room by dropping the entry offline the longest when
-- the hash holds max_devices. With every entry online, the device is not listed: no online device
-- is dropped for it.
local function presence_up(key, device, connection, instance, now, deadline, max_devices, lifetime)
  if redis.call('HEXISTS', key, device) == 0
      and redis.call('HLEN', key) >= tonumber(max_devices) then
    local all = redis.call('HGETALL', key)
    local t = tonumber(now)
    local victim, oldest = nil, nil
    for i = 1, #all, 2 do
      local on, _, seen, dl = parse_presence(all[i + 1])
      local s = tonumber(seen) or 0
      if not (on == '1' and tonumber(dl) > t) and (oldest == nil or s < oldest) then
        oldest = s
        victim = all[i]
      end
    end
    if not victim then
      return
    end
    redis.call('HDEL', key, victim)
  end
  redis.call('HSET', key, device,
    '1|' .. connection .. '|' .. instance .. '|' .. now .. '|' .. deadline)
  redis.call('PEXPIRE', key, lifetime)
end
