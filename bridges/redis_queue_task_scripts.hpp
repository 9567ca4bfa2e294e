#pragma once

// The Redis TASK QUEUE's scripts of one task (extend, complete, fail,
// release, cancel, status) and its queries (lists, counts, the outbox);
// the stored layout and the scripts of a batch: redis_queue_scripts.hpp.

#include "bridges/redis_queue_transitions.hpp"

namespace orch::redis_lua {

/// ARGV: P, now, id, worker, ttl, base, maxb.
constexpr const char* extend = R"lua(
local id, worker, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
promote(tonumber(ARGV[6]), tonumber(ARGV[7]))
local err = owned(id, worker)
if err then return err end
redis.call('ZADD', LEASES, NOW + ttl, id)
return record(id)
)lua";

/// ARGV: P, now, id, worker, result, then per outbox event: key, when, blob.
constexpr const char* complete = R"lua(
local err = complete_one(ARGV[3], ARGV[4], ARGV[5], 6, #ARGV)
if err then return err end
PURGE = true
return record(ARGV[3])
)lua";

/// ARGV: P, now, id, worker, error, base, maxb, then per outbox event: key,
/// when, blob (see record_events).
constexpr const char* fail = R"lua(
local id, worker, why = ARGV[3], ARGV[4], ARGV[5]
local err = owned(id, worker)
if err then return err end
redis.call('ZREM', LEASES, id)
retry_or_fail(id, why, tonumber(ARGV[6]), tonumber(ARGV[7]))
record_events(id, 8, #ARGV)
PURGE = true
return record(id)
)lua";

/// ARGV: P, now, id, worker. Back to READY without counting the attempt.
constexpr const char* release = R"lua(
local id, worker = ARGV[3], ARGV[4]
local err = owned(id, worker)
if err then return err end
redis.call('ZREM', LEASES, id)
set('owner', id, '')
local a = get('attempts', id)
if a > 0 then set('attempts', id, a - 1) end
ready(id)
return record(id)
)lua";

/// ARGV: P, now, plan, base, maxb. Flat list state, count, ... of a plan:
/// the states of the tasks in its index, P:p:<plan> (a walk over the plan,
/// not over the queue; a caller that asks after each task it finishes asks
/// plan_finished first).
constexpr const char* plan_counts = R"lua(
promote(tonumber(ARGV[4]), tonumber(ARGV[5]))
flush_columns()
local ids = redis.call('SMEMBERS', P .. ':p:' .. ARGV[3])
-- With the tasks that left while any of the plan's is kept.
local n = gone_counts(ARGV[3])
for _, v in ipairs(column(TASK, ids)) do
  if v then
    local st = state_of(v)
    n[st] = (n[st] or 0) + 1
  end
end
local out = {}
for st, k in pairs(n) do
  out[#out + 1] = st
  out[#out + 1] = k
end
return out
)lua";

/// ARGV: P, now, plan, base, maxb. 1 when the plan has tasks and none of
/// them is open, else 0: from the count of its open tasks.
constexpr const char* plan_finished = R"lua(
promote(tonumber(ARGV[4]), tonumber(ARGV[5]))
local plan = ARGV[3]
if redis.call('EXISTS', P .. ':p:' .. plan) == 0 then return 0 end
return plan_done(plan) and 1 or 0
)lua";

/// ARGV: P, now. The outbox as a flat list key, blob, ...
constexpr const char* outbox = R"lua(
return redis.call('HGETALL', P .. ':o')
)lua";

/// ARGV: P, now, plan. The plan's outbox events as a flat list key, blob, ...
constexpr const char* outbox_plan = R"lua(
local keys = redis.call('SMEMBERS', P .. ':op:' .. ARGV[3])
local out = {}
for i = 1, #keys do
  local blob = redis.call('HGET', P .. ':o', keys[i])
  if blob then
    table.insert(out, keys[i])
    table.insert(out, blob)
  end
end
return out
)lua";

/// ARGV: P, now, keys... Drops delivered events; returns how many were held.
constexpr const char* outbox_drop = R"lua(
local n = 0
for k = 3, #ARGV do
  local plan = redis.call('HGET', P .. ':ok', ARGV[k])
  if plan then
    redis.call('SREM', P .. ':op:' .. plan, ARGV[k])
    redis.call('HDEL', P .. ':ok', ARGV[k])
  end
  n = n + redis.call('HDEL', P .. ':o', ARGV[k])
end
return n
)lua";

/// ARGV: P, now, id.
constexpr const char* cancel = R"lua(
local id = ARGV[3]
local st = get('state', id)
if st == '' then return redis.error_reply('not_found: no task ' .. id) end
if st == 'COMPLETED' or st == 'FAILED' or st == 'CANCELLED' then
  return redis.error_reply('invalid_argument: task ' .. id
                           .. ' is already ' .. st)
end
unready(id)
redis.call('ZREM', LEASES, id)
redis.call('ZREM', BACKOFF, id)
setstate(id, 'CANCELLED')
set('owner', id, '')
for _, d in ipairs(dependents_of(id)) do
  block(d, 'dependency ' .. id .. ' was cancelled')
end
return record(id)
)lua";

/// ARGV: P, now, id, base, maxb.
constexpr const char* status = R"lua(
promote(tonumber(ARGV[4]), tonumber(ARGV[5]))
local id = ARGV[3]
if get('state', id) == '' then
  return redis.error_reply('not_found: no task ' .. id)
end
return record(id)
)lua";

/// ARGV: P, now, state ('' = all), base, maxb. Flat records (11 fields
/// each) in enqueue order. READY and IN_PROGRESS tasks are found by their
/// own sets, other states by walking P:c2:task.
constexpr const char* list = R"lua(
promote(tonumber(ARGV[4]), tonumber(ARGV[5]))
flush_batches() -- tasks promote made READY
local want = ARGV[3]
if want == 'READY' then
  return by_seq(redis.call('ZRANGE', READY, 0, -1), want)
end
if want == 'IN_PROGRESS' then
  return by_seq(redis.call('ZRANGE', LEASES, 0, -1), want)
end
local ids = {}
for _, id in ipairs(redis.call('HKEYS', col(TASK))) do
  if id ~= '' then ids[#ids + 1] = id end
end
return by_seq(ids, want)
)lua";

/// ARGV: P, now, state ('' = all), plan, base, maxb. The plan's records in
/// enqueue order, found by the plan's set; flat, as list.
constexpr const char* list_plan = R"lua(
promote(tonumber(ARGV[5]), tonumber(ARGV[6]))
return by_seq(redis.call('SMEMBERS', P .. ':p:' .. ARGV[4]), ARGV[3])
)lua";

/// ARGV: P, now, base, maxb. Returns a flat list state, count, ... from the
/// counters every state change keeps (no walk over the tasks).
constexpr const char* counts = R"lua(
promote(tonumber(ARGV[3]), tonumber(ARGV[4]))
flush_counts()
local c = {QUEUED = 0, READY = 0, IN_PROGRESS = 0, COMPLETED = 0,
           FAILED = 0, BLOCKED = 0, CANCELLED = 0}
local h = redis.call('HGETALL', P .. ':sc')
for k = 1, #h, 2 do c[h[k]] = tonumber(h[k + 1]) end
local out = {}
for k, v in pairs(c) do table.insert(out, k) table.insert(out, v) end
return out
)lua";

} // namespace orch::redis_lua
