-- Settle a permit's tokens, free its slot, or pause keys (a 429), in one call.
--
-- KEYS[2i-1], KEYS[2i]  as in limits_acquire.lua
-- ARGV[1]     permit id ("" when only pausing)
-- ARGV[2]     token difference to debit (negative: refund) in every token tier
-- ARGV[3]     1 to free the permit's slot
-- ARGV[4]     pause seconds for every key (0: none)
-- ARGV[5...]  per key: number of tiers, then per tier its name, rate and capacity
-- Returns 1. A refund never fills a bucket past its capacity.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local difference = tonumber(ARGV[2])
local pause = tonumber(ARGV[4])
local pos = 5
for i = 1, #KEYS / 2 do
  local hash, slots = KEYS[2 * i - 1], KEYS[2 * i]
  local ntiers = tonumber(ARGV[pos])
  pos = pos + 1
  for _ = 1, ntiers do
    local name, rate, cap = ARGV[pos], tonumber(ARGV[pos + 1]), tonumber(ARGV[pos + 2])
    pos = pos + 3
    if difference ~= 0 and string.sub(name, 1, 1) == 't' then
      local level = tonumber(redis.call('HGET', hash, name .. ':l') or cap)
      local at = tonumber(redis.call('HGET', hash, name .. ':t') or now)
      if now > at then level = math.min(cap, level + (now - at) * rate) end
      level = math.min(cap, level - difference)
      redis.call('HSET', hash, name .. ':l', tostring(level), name .. ':t', tostring(now))
    end
  end
  if ARGV[3] == '1' then redis.call('ZREM', slots, ARGV[1]) end
  if pause > 0 then
    local until_ = math.max(tonumber(redis.call('HGET', hash, 'paused') or '0'), now + pause)
    redis.call('HSET', hash, 'paused', tostring(until_))
    redis.call('EXPIRE', hash, 172800)
  end
end
return 1
