"""The Lua scripts of the Redis store: each is one atomic round trip (EVALSHA, loaded once;
redis-py's ``Script`` loads it again when the server answers NOSCRIPT)."""

from __future__ import annotations

__all__ = ["RESERVE_ALL", "SETTLE_ALL", "FAIL", "ROUTE", "RELEASE"]

# The weighted count of a sliding window counter (previous, current), after rolling the window
# over when its period has passed, as limits' acquire_sliding_window.lua does.
SLIDING = """
local function weighted(prev, cur, ms)
  local cur_ttl = tonumber(redis.call('PTTL', cur))
  if cur_ttl > 0 and cur_ttl < ms then
    redis.call('RENAME', cur, prev)
    redis.call('SET', cur, 0, 'PX', cur_ttl + ms)
  end
  local pc = tonumber(redis.call('GET', prev)) or 0
  local pt = tonumber(redis.call('PTTL', prev)) or 0
  if pt < 0 then pt = 0 end
  return math.floor(pc * pt / ms) + (tonumber(redis.call('GET', cur)) or 0)
end
local function add(cur, n, ms)
  if redis.call('EXISTS', cur) == 1 then
    redis.call('INCRBY', cur, n)
  else
    redis.call('SET', cur, n, 'PX', ms * 2)
  end
end
"""

# One round trip for a call's whole reservation: its budget counters and its rate-limit windows,
# all or nothing. KEYS: (hash, zset) per budget counter, then per rate hit its window keys (one
# list for a moving window, previous and current counters for a sliding window counter: the keys
# and algorithms of `limits`, whose scripts acquire_moving_window.lua and
# acquire_sliding_window.lua these steps follow, so its window reads stay valid).
# With rate limits and no budget, the key before the last is the request's marker (kept two
# minutes), so the script sent again after a lost reply takes nothing twice.
# The last key is the set of revoked key ids, checked first: a key revoked by any process is
# refused by every reservation at once, whatever the local key cache holds.
# ARGV: amount, rid, now, expires_at, nb, (limit, ttl) per counter, nh, (kind, limit, expiry,
# cost) per hit, the call's key id ('' without one). Returns 0, {1, index, spent, reserved} for
# a budget that cannot take it, {2, index} for a full rate window, or {3} for a revoked key.
RESERVE_ALL = SLIDING + """
local amount = tonumber(ARGV[1])
local now = tonumber(ARGV[3])
local nb = tonumber(ARGV[5])
local h0 = 6 + 2 * nb
local nh = tonumber(ARGV[h0])
local kid = ARGV[h0 + 4 * nh + 1]
if kid ~= '' and redis.call('SISMEMBER', KEYS[#KEYS], kid) == 1 then return {3} end
-- A reservation retried after a lost reply (redis-py sends the script again on a new connection
-- when the old one drops) finds its rid already held: it was made, and is not made twice.
if nb > 0 and redis.call('HEXISTS', KEYS[1], 'r:' .. ARGV[2]) == 1 then return 0 end
local marker = nil
if nb == 0 and nh > 0 then marker = KEYS[#KEYS - 1] end
if marker and redis.call('EXISTS', marker) == 1 then return 0 end
for i = 1, nb do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local stale = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, r in ipairs(stale) do
    local a = redis.call('HGET', h, 'r:' .. r)
    if a then
      redis.call('HINCRBY', h, 'reserved', '-' .. a)
      redis.call('HDEL', h, 'r:' .. r)
    end
  end
  if #stale > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
end
for i = 1, nb do
  local h = KEYS[2 * i - 1]
  local spent = redis.call('HGET', h, 'spent') or '0'
  local reserved = redis.call('HGET', h, 'reserved') or '0'
  if tonumber(spent) + tonumber(reserved) + amount > tonumber(ARGV[4 + 2 * i]) then
    return {1, i, spent, reserved}
  end
end
local k = 2 * nb + 1
for j = 1, nh do
  local b = h0 + 4 * (j - 1)
  local limit, expiry, cost = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if cost > limit then return {2, j} end
  if ARGV[b + 1] == 'm' then
    local entry = redis.call('LINDEX', KEYS[k], limit - cost)
    if entry and tonumber(entry) >= now - expiry then return {2, j} end
    k = k + 1
  else
    if weighted(KEYS[k], KEYS[k + 1], expiry * 1000) + cost > limit then return {2, j} end
    k = k + 2
  end
end
for i = 1, nb do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('HINCRBY', h, 'reserved', ARGV[1])
  redis.call('HSET', h, 'r:' .. ARGV[2], ARGV[1])
  redis.call('ZADD', z, ARGV[4], ARGV[2])
  if tonumber(ARGV[5 + 2 * i]) > 0 then
    redis.call('EXPIRE', h, ARGV[5 + 2 * i])
    redis.call('EXPIRE', z, ARGV[5 + 2 * i])
  end
end
k = 2 * nb + 1
for j = 1, nh do
  local b = h0 + 4 * (j - 1)
  local limit, expiry, cost = tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if ARGV[b + 1] == 'm' then
    for _ = 1, cost do redis.call('LPUSH', KEYS[k], ARGV[3]) end
    redis.call('LTRIM', KEYS[k], 0, limit - 1)
    redis.call('EXPIRE', KEYS[k], expiry)
    k = k + 1
  else
    add(KEYS[k + 1], cost, expiry * 1000)
    k = k + 2
  end
end
if marker then redis.call('SET', marker, '1', 'PX', 120000) end
return 0
"""

# One round trip for a call's settle: each budget counter's reservation replaced by the actual
# cost, and the tokens its usage had beyond what was taken up front added to each
# tokens-per-minute window, up to what the window has left. A settle retried after a lost reply
# finds its reservation gone and must not charge twice, so the spend is added only with the
# reservation, or when the caller says it may have expired (late = '1').
# KEYS: (hash, zset) per budget counter, then (previous, current) per window. ARGV: rid, actual,
# late, nb, then (limit, expiry, extra) per window.
SETTLE_ALL = SLIDING + """
local nb = tonumber(ARGV[4])
for i = 1, nb do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local a = redis.call('HGET', h, 'r:' .. ARGV[1])
  if a then
    redis.call('HINCRBY', h, 'reserved', '-' .. a)
    redis.call('HDEL', h, 'r:' .. ARGV[1])
    redis.call('ZREM', z, ARGV[1])
  end
  if ARGV[2] ~= '0' and (a or ARGV[3] == '1') then
    redis.call('HINCRBY', h, 'spent', ARGV[2])
  end
end
local k = 2 * nb + 1
local b = 5
while ARGV[b] do
  local limit, extra, ms = tonumber(ARGV[b]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 1]) * 1000
  local n = math.min(extra, limit - weighted(KEYS[k], KEYS[k + 1], ms))
  if n > 0 then add(KEYS[k + 1], n, ms) end
  k = k + 2
  b = b + 3
end
return 0
"""


# A deployment failure: counted within its window; the cooldown starts when the window holds
# allowed_fails of them (or at once for a hard failure).
FAIL = """
local now, window, allowed = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local cooldown, hard = tonumber(ARGV[4]), ARGV[5]
local function cool()
  local ms = math.max(1, math.ceil(cooldown * 1000))
  redis.call('SET', KEYS[2], tostring(now + cooldown), 'PX', ms)
  redis.call('DEL', KEYS[1])
  return 1
end
if hard == '1' then return cool() end
redis.call('ZADD', KEYS[1], now, ARGV[6])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(window * 1000)))
if redis.call('ZCARD', KEYS[1]) >= allowed then return cool() end
return 0
"""


# A finished attempt: its in-flight entry removed, its latency folded into the deployment's
# average (as MemoryDeploymentState does) and the tokens it used beyond its estimate added to
# the minute it was taken in.
_RELEASE_FN = """
local function release(h, z, member, lat, extra, minute)
  redis.call('ZREM', z, member)
  if lat ~= '' then
    local v = tonumber(lat)
    local prev = tonumber(redis.call('HGET', h, 'lat'))
    if prev then v = 0.7 * prev + 0.3 * v end
    redis.call('HSET', h, 'lat', tostring(v))
  end
  if extra ~= '0' and redis.call('HGET', h, 'm') == minute then
    redis.call('HINCRBY', h, 't', extra)
  end
end
local function release_all(k0, a0, count)
  for j = 1, count do
    local b = a0 + 4 * (j - 1)
    release(KEYS[k0 + 2 * j - 1], KEYS[k0 + 2 * j], ARGV[b], ARGV[b + 1], ARGV[b + 2],
            ARGV[b + 3])
  end
end
"""

# Finished attempts, batched. KEYS: (hash, zset) per attempt. ARGV: (member, latency ms or '',
# extra tokens, minute) per attempt.
RELEASE = _RELEASE_FN + """
release_all(0, 1, #KEYS / 2)
return 0
"""

# One attempt's deployment, in one round trip, chosen on the shared state of this moment (the
# process's finished attempts not sent yet are released first): among the candidates under
# their own rpm / tpm in this UTC minute, the lowest (rank, metric, position), where rank is the
# caller's grouping (1: not failed in this call, 2: failed, 3: cooling) and the metric the
# strategy's: 'first' none, 'busy' in-flight calls, 'tokens' tokens of the minute, 'latency' the
# latency average (unknown first). The chosen one is taken (a request, the estimated tokens, an
# in-flight entry that expires by itself if the process dies mid-call) and every candidate's
# statistics come back for the local mirror.
# KEYS: (hash, zset) per candidate, then per release: the hash holds m (the minute), r and t
# (requests and tokens in it) and lat (ms); the zset the in-flight calls by expiry. ARGV: now,
# minute, tokens, member, in-flight expiry (s), mode, n, (rpm, tpm, rank) per candidate (0: no
# limit), then the releases as RELEASE takes them.
# Returns {chosen index (0: none), then (in-flight, latency or '', tokens) per candidate}.
ROUTE = _RELEASE_FN + """
local now, minute, tokens = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local member, ttl, mode, n = ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
release_all(2 * n, 8 + 3 * n, (#KEYS - 2 * n) / 2)
local out, best, bestkey = {0}, 0, nil
local st = {}
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('HGET', h, 'm') ~= minute then
    redis.call('HSET', h, 'm', minute, 'r', 0, 't', 0)
    redis.call('EXPIRE', h, 86400)
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', now)
  local r = tonumber(redis.call('HGET', h, 'r'))
  local t = tonumber(redis.call('HGET', h, 't'))
  local busy = redis.call('ZCARD', z)
  local lat = redis.call('HGET', h, 'lat') or ''
  st[i] = {r, t, busy, lat}
  local b = 7 + 3 * (i - 1)
  local rpm, tpm, rank = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3])
  if (rpm == 0 or r + 1 <= rpm) and (tpm == 0 or t + tokens <= tpm) then
    local metric = 0
    if mode == 'busy' then metric = busy
    elseif mode == 'tokens' then metric = t
    elseif mode == 'latency' then metric = tonumber(lat) or -1 end
    if best == 0 or rank < bestkey[1] or (rank == bestkey[1] and metric < bestkey[2]) then
      best, bestkey = i, {rank, metric}
    end
  end
end
if best > 0 then
  local h, z = KEYS[2 * best - 1], KEYS[2 * best]
  st[best][2] = st[best][2] + tokens
  st[best][3] = st[best][3] + 1
  redis.call('HSET', h, 'r', st[best][1] + 1, 't', st[best][2])
  redis.call('ZADD', z, now + ttl, member)
  redis.call('EXPIRE', z, math.ceil(ttl) * 2)
end
out[1] = best
for i = 1, n do
  out[#out + 1] = st[i][3]
  out[#out + 1] = st[i][4]
  out[#out + 1] = st[i][2]
end
return out
"""
