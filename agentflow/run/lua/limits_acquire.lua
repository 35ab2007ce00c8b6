-- Admit one call under every tier of every limits key it is governed by, or none.
--
-- KEYS[2i-1]  limits key i's hash: paused (unix s), <tier>:l level, <tier>:t refilled at
-- KEYS[2i]    limits key i's sorted set of concurrency slots, scored by lease end
-- ARGV[1]     permit id (the slot's member)
-- ARGV[2]     slot lease in seconds: a crashed process's slots come back after it
-- ARGV[3]     tokens of the call (estimate)
-- ARGV[4...]  per key: max_concurrent (0: none), number of tiers, then per tier its
--             name (rpm..tpd), rate per second and capacity
-- Returns {1} when admitted (every bucket debited, a slot taken), else
-- {0, wait_s (string; "-1" when it depends on a slot), key index (1-based), reason}.
-- Token buckets (refill `rate`/s up to `capacity`, start full); a call larger than a
-- bucket waits for a full bucket and leaves it in debt. The clock is the server's (TIME).
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local tokens = tonumber(ARGV[3])
local keys = {}
local pos = 4
local worst, worst_key, worst_reason = nil, 0, ''
-- the wait that ends later; an open-ended one (a slot, -1) only beats nothing
local function longer(wait, key, reason)
  if worst == nil or (wait >= 0 and (worst < 0 or wait > worst)) then
    worst, worst_key, worst_reason = wait, key, reason
  end
end
for i = 1, #KEYS / 2 do
  local hash, slots = KEYS[2 * i - 1], KEYS[2 * i]
  local entry = {hash = hash, slots = slots, max = tonumber(ARGV[pos]), tiers = {}}
  local ntiers = tonumber(ARGV[pos + 1])
  pos = pos + 2
  local paused = tonumber(redis.call('HGET', hash, 'paused') or '0')
  if paused > now then longer(paused - now, i, 'paused') end
  for _ = 1, ntiers do
    local name, rate, cap = ARGV[pos], tonumber(ARGV[pos + 1]), tonumber(ARGV[pos + 2])
    pos = pos + 3
    local level = tonumber(redis.call('HGET', hash, name .. ':l') or cap)
    local at = tonumber(redis.call('HGET', hash, name .. ':t') or now)
    if now > at then level = math.min(cap, level + (now - at) * rate) end
    local amount = 1
    if string.sub(name, 1, 1) == 't' then amount = tokens end
    local need = math.min(amount, cap)
    if need - level > 1e-9 * math.max(1, need) then
      longer((need - level) / rate, i, name)
    end
    entry.tiers[#entry.tiers + 1] = {name = name, level = level, amount = amount}
  end
  if entry.max > 0 then
    redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
    if redis.call('ZCARD', slots) >= entry.max then longer(-1, i, 'concurrency') end
  end
  keys[i] = entry
end
if worst ~= nil then
  return {0, tostring(worst), worst_key, worst_reason}
end
for _, entry in ipairs(keys) do
  for _, tier in ipairs(entry.tiers) do
    redis.call('HSET', entry.hash, tier.name .. ':l', tostring(tier.level - tier.amount),
      tier.name .. ':t', tostring(now))
  end
  if entry.max > 0 then
    redis.call('ZADD', entry.slots, now + tonumber(ARGV[2]), ARGV[1])
  end
  redis.call('EXPIRE', entry.hash, 172800)
  redis.call('EXPIRE', entry.slots, 172800)
end
return {1}
