-- The store's life marker (StoreLife): its value, set to ARGV[1] first if it is missing (Redis was
-- wiped, or this is the deployment's first node), and the answering Redis process's run_id and
-- replication id, which change when it restarts or takes another dataset (a full resync); empty
-- where INFO is refused (an ACL without @dangerous), so the marker is checked alone.
-- KEYS: 1 the marker. Returns {value, run_id, master_replid, 1 if set now else 0}.
local v = redis.call('GET', KEYS[1])
local made = 0
if not v then
  v = ARGV[1]
  redis.call('SET', KEYS[1], v)
  made = 1
end
local function field(section, name)
  local info = redis.pcall('INFO', section)
  if type(info) ~= 'string' then
    return ''
  end
  return string.match(info, name .. ':(%x+)') or ''
end
return {v, field('server', 'run_id'), field('replication', 'master_replid'), made}
