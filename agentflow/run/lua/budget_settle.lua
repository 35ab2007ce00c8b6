-- Replace a holder's reservation with the actual cost in every standing account.
--
-- KEYS[2i-1]  account hash (see budget_reserve.lua)
-- KEYS[2i]    sorted set of holders
-- ARGV[1]     holder id
-- ARGV[2]     actual cost, nano-dollars (0 to release)
-- ARGV[3]     unix time after which the accounts may be deleted
-- Returns {spent_1, ..., spent_n} after settling. The reservation removed is the amount the
-- server holds for this holder (none if its lease already ended); the actual cost is always
-- added, so money spent is never lost even when a lease ran out.
local actual = tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS / 2 do
  local account, holders = KEYS[2 * i - 1], KEYS[2 * i]
  local held = redis.call('HGET', account, 'h:' .. ARGV[1])
  if held then
    redis.call('HINCRBY', account, 'reserved', -tonumber(held))
    redis.call('HDEL', account, 'h:' .. ARGV[1])
    redis.call('ZREM', holders, ARGV[1])
  end
  out[i] = redis.call('HINCRBY', account, 'spent', actual)
  redis.call('EXPIREAT', account, ARGV[3])
end
return out
