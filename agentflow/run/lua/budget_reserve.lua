-- Reserve one call's worst case in every standing account, or in none.
--
-- KEYS[2i-1]  account hash: spent, reserved (nano-dollars), h:<holder> = held amount
-- KEYS[2i]    sorted set of holders, scored by the time their lease ends
-- ARGV[1]     nano-dollars to reserve
-- ARGV[2]     holder id (unique per reservation)
-- ARGV[3]     lease in seconds: a holder that never settles (crashed) is dropped after it
-- ARGV[4]     unix time after which the accounts may be deleted (period end + grace)
-- ARGV[4+i]   limit of account i, nano-dollars
-- Returns {status, index, spent_1, ..., spent_n}: status 1 taken, 0 refused by account
-- `index` (1-based), 2 only other holders' reservations stand in the way (try again).
-- The clock is the server's (TIME), so every process agrees on when a lease ends.
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local nanos = tonumber(ARGV[1])
local n = #KEYS / 2
local spent = {}
for i = 1, n do
  local account, holders = KEYS[2 * i - 1], KEYS[2 * i]
  for _, gone in ipairs(redis.call('ZRANGEBYSCORE', holders, '-inf', now)) do
    local held = tonumber(redis.call('HGET', account, 'h:' .. gone) or '0')
    redis.call('HINCRBY', account, 'reserved', -held)
    redis.call('HDEL', account, 'h:' .. gone)
    redis.call('ZREM', holders, gone)
  end
  spent[i] = tonumber(redis.call('HGET', account, 'spent') or '0')
end
for i = 1, n do
  local account = KEYS[2 * i - 1]
  local limit = tonumber(ARGV[4 + i])
  local reserved = tonumber(redis.call('HGET', account, 'reserved') or '0')
  if spent[i] + reserved + nanos > limit then
    local status = 0
    if reserved > 0 and spent[i] + nanos <= limit then status = 2 end
    local out = {status, i}
    for j = 1, n do out[#out + 1] = spent[j] end
    return out
  end
end
for i = 1, n do
  local account, holders = KEYS[2 * i - 1], KEYS[2 * i]
  redis.call('HINCRBY', account, 'reserved', nanos)
  redis.call('HSET', account, 'h:' .. ARGV[2], nanos)
  redis.call('ZADD', holders, now + tonumber(ARGV[3]), ARGV[2])
  redis.call('EXPIREAT', account, ARGV[4])
  redis.call('EXPIREAT', holders, ARGV[4])
end
local out = {1, 0}
for j = 1, n do out[#out + 1] = spent[j] end
return out
