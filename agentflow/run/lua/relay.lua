-- Relay a worker's events to the starter, and release the instances they finish, at once.
--
-- KEYS[1]   the run's events stream (queue:RUN:events)
-- KEYS[2]   the set of finished instances (queue:RUN:done)
-- KEYS[3]   the run's work stream (queue:RUN:work), whose group is `workers`
-- ARGV[1]   the events, a JSON list
-- ARGV[2i], ARGV[2i+1]  per finished instance: its done tag ("w:i") and its entry id
-- Returns the events entry's id. A script runs atomically: an instance's final event and
-- its acknowledgement land together or not at all, as in a transaction, and the call can
-- share a round trip with the other scripts of its turn (RedisConnection.run).
local id = redis.call('XADD', KEYS[1], '*', 'b', ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('SADD', KEYS[2], ARGV[i])
  redis.call('XACK', KEYS[3], 'workers', ARGV[i + 1])
end
return id
