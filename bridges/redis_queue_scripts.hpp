#pragma once

// The Lua scripts of the Redis TASK QUEUE: every transition runs atomically
// inside Redis. Keys (P = the configured prefix):
//   P:t:<id>   hash: state, plan, prio, seq, max, attempts, unmet, owner,
//              lease, nb, result, error (and spec, in tasks queued before
//              P:s). A new task's hash leaves out unmet, lease, result
//              and error at their default (0, 0, '', ''); every reader
//              takes a missing field as its default.
//   P:s:<id>   string: the spec (msgpack task_spec). Kept apart so that the
//              hash's values stay short: Redis keeps a hash with a value
//              over hash-max-listpack-value (64 bytes by default) as a
//              hash table, and a task's writes and reads took ~3x as long.
//   P:d:<id>   set: dependents of <id>
//   P:w:<id>   set: dependents waiting for <id> to be enqueued
//   P:r        zset: READY tasks, by -priority * 1e10 + seq
//   P:l        zset: IN_PROGRESS tasks, by lease expiry (ms)
//   P:b        zset: tasks waiting for a retry backoff, by due time (ms)
//   P:all      zset: every task, by enqueue order
//   P:seq      counter
//   P:p:<plan> set: task ids of a plan (list of one plan)
//   P:pc:<plan> hash: tasks of a plan by state, kept by count_move
//   P:sc       hash: all tasks by state, kept by count_move
//   P:o        hash: the outbox, idempotency key -> event (JSON), written
//              with the completion or failure that causes the event
//   P:op:<plan> set: outbox keys of a plan
//   P:ok       hash: outbox key -> its plan (to leave P:op when dropped)
// Errors come back as "<code>: <text>" with code not_found or
// invalid_argument.

namespace orch::redis_lua {

/// Shared functions, prepended to every script. ARGV[1] is the prefix and
/// ARGV[2] the current time in ms in every script.
constexpr const char* prelude = R"lua(
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local function tk(id) return P .. ':t:' .. id end
-- The score of a READY task in P:r: priority first, then enqueue order.
local function ready_rank(prio, seq)
  return -tonumber(prio) * 1e10 + tonumber(seq)
end
-- Every state change goes through here or through setstate: a task of
-- plan moves from state `from` (nil: a new task) to `to` in the counts by
-- plan and of all tasks. The changes add up in DELTA and reach Redis once,
-- in flush_counts (which every script runs at its end and before it reads
-- a count): a batch of transitions costs a few HINCRBY, not four per task.
local DELTA = {}
local function count_move(plan, from, to)
  local d = DELTA[plan]
  if not d then
    d = {}
    DELTA[plan] = d
  end
  if from then d[from] = (d[from] or 0) - 1 end
  d[to] = (d[to] or 0) + 1
end
local function flush_counts()
  local all = {}
  for plan, d in pairs(DELTA) do
    for st, n in pairs(d) do
      if n ~= 0 then
        redis.call('HINCRBY', P .. ':pc:' .. plan, st, n)
        all[st] = (all[st] or 0) + n
      end
    end
  end
  for st, n in pairs(all) do
    if n ~= 0 then redis.call('HINCRBY', P .. ':sc', st, n) end
  end
  DELTA = {}
end
-- redis.call(cmd, [key,] args...) in pieces of at most 1000 args (Lua's
-- unpack has a limit); table replies joined, number replies added up.
local function pieces(cmd, key, args)
  local out, sum = {}, 0
  for a = 1, #args, 1000 do
    local b = math.min(a + 999, #args)
    local r
    if key then
      r = redis.call(cmd, key, unpack(args, a, b))
    else
      r = redis.call(cmd, unpack(args, a, b))
    end
    if type(r) == 'table' then
      for k = 1, #r do out[#out + 1] = r[k] end
    else
      sum = sum + r
    end
  end
  return out, sum
end
-- Members added to or removed from a set by a script are gathered here and
-- written once per set at the script's end (flush_batches), so a batch of
-- tasks costs a few ZADD, SADD and ZREM, not one each per task. READY
-- scores wait in RANKS, from which a task blocked or cancelled in the same
-- script leaves again; a script flushes before it reads P:r.
-- BATCHES: command -> key -> args (two levels: no string built per call).
local BATCHES, BATCH_ORDER, RANKS = {}, {}, {}
local function batch(cmd, key, a, b)
  local bykey = BATCHES[cmd]
  if not bykey then
    bykey = {}
    BATCHES[cmd] = bykey
  end
  local args = bykey[key]
  if not args then
    args = {}
    bykey[key] = args
    BATCH_ORDER[#BATCH_ORDER + 1] = {cmd, key, args}
  end
  args[#args + 1] = a
  if b ~= nil then args[#args + 1] = b end
end
local function flush_batches()
  local r = {}
  for id, score in pairs(RANKS) do
    r[#r + 1] = score
    r[#r + 1] = id
  end
  RANKS = {}
  if #r > 0 then pieces('ZADD', P .. ':r', r) end
  for _, b in ipairs(BATCH_ORDER) do pieces(b[1], b[2], b[3]) end
  BATCHES, BATCH_ORDER = {}, {}
end
-- Out of the ready set, also when it was made READY earlier in this script.
local function unready(id)
  RANKS[id] = nil
  redis.call('ZREM', P .. ':r', id)
end
local function setstate(id, st)
  local h = redis.call('HMGET', tk(id), 'state', 'plan')
  redis.call('HSET', tk(id), 'state', st)
  count_move(h[2] or '', h[1], st)
end
-- Whether the plan of task id has no open task (QUEUED, READY, IN_PROGRESS).
local function plan_done(id)
  flush_counts()
  local plan = redis.call('HGET', tk(id), 'plan') or ''
  local h = redis.call('HMGET', P .. ':pc:' .. plan, 'QUEUED', 'READY',
                       'IN_PROGRESS')
  return (tonumber(h[1]) or 0) + (tonumber(h[2]) or 0)
         + (tonumber(h[3]) or 0) == 0
end
-- Records outbox events given as (key, when, blob) in ARGV[first..last]:
-- when '' always, 'final' if the task FAILED, 'plan_done' if plan_done(id).
local function record_events(id, first, last)
  if first > last then return end
  local final = redis.call('HGET', tk(id), 'state') == 'FAILED'
  local plan = redis.call('HGET', tk(id), 'plan') or ''
  local done = nil
  for k = first, last, 3 do
    local when = ARGV[k + 1]
    local keep = when == '' or (when == 'final' and final)
    if when == 'plan_done' then
      if done == nil then done = plan_done(id) end
      keep = done
    end
    if keep then
      redis.call('HSET', P .. ':o', ARGV[k], ARGV[k + 2])
      redis.call('SADD', P .. ':op:' .. plan, ARGV[k])
      redis.call('HSET', P .. ':ok', ARGV[k], plan)
    end
  end
end
-- Into the ready set, by priority and then enqueue order. `known`
-- (optional): the task's state, prio, seq and plan, already read.
local function ready(id, known)
  local h = known
            or redis.call('HMGET', tk(id), 'state', 'prio', 'seq', 'plan')
  redis.call('HSET', tk(id), 'state', 'READY')
  count_move(h[4] or '', h[1], 'READY')
  RANKS[id] = ready_rank(h[2], h[3])
end
local function block(id, why)
  local todo = {{id, why}}
  while #todo > 0 do
    local item = table.remove(todo)
    local x, w = item[1], item[2]
    local st = redis.call('HGET', tk(x), 'state')
    if st == 'QUEUED' or st == 'READY' then
      unready(x)
      redis.call('ZREM', P .. ':b', x)
      setstate(x, 'BLOCKED')
      redis.call('HSET', tk(x), 'error', w)
      for _, d in ipairs(redis.call('SMEMBERS', P .. ':d:' .. x)) do
        table.insert(todo, {d, 'dependency ' .. x .. ' is blocked: ' .. w})
      end
    end
  end
end
local function retry_or_fail(id, why, base, maxb)
  local h = redis.call('HMGET', tk(id), 'attempts', 'max')
  local attempts, max = tonumber(h[1] or 0), tonumber(h[2])
  redis.call('HSET', tk(id), 'owner', '', 'lease', 0, 'error', why)
  if attempts >= max then
    setstate(id, 'FAILED')
    for _, d in ipairs(redis.call('SMEMBERS', P .. ':d:' .. id)) do
      block(d, 'dependency ' .. id .. ' failed: ' .. why)
    end
    return
  end
  local delay = math.min(base * 2 ^ math.max(attempts - 1, 0), maxb)
  if delay <= 0 then
    ready(id)
    return
  end
  setstate(id, 'QUEUED')
  redis.call('HSET', tk(id), 'nb', NOW + delay)
  redis.call('ZADD', P .. ':b', NOW + delay, id)
end
local function promote(base, maxb)
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':b', '-inf', NOW)) do
    redis.call('ZREM', P .. ':b', id)
    if redis.call('HGET', tk(id), 'state') == 'QUEUED' then ready(id) end
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ':l', '-inf', NOW)) do
    redis.call('ZREM', P .. ':l', id)
    if redis.call('HGET', tk(id), 'state') == 'IN_PROGRESS' then
      local owner = redis.call('HGET', tk(id), 'owner') or ''
      -- Counts an attempt; back to READY at once (no backoff).
      retry_or_fail(id, 'lease of ' .. owner .. ' expired', 0, 0)
    end
  end
end
local function record(id)
  local h = redis.call('HMGET', tk(id), 'spec', 'state', 'attempts', 'max',
                       'owner', 'lease', 'nb', 'seq', 'result', 'error')
  local spec = h[1] or redis.call('GET', P .. ':s:' .. id)
  return {id, spec, h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10]}
end
-- nil and the task's plan when id is leased to worker, else the error.
local function owned(id, worker)
  local h = redis.call('HMGET', tk(id), 'state', 'owner', 'plan')
  if not h[1] then
    return redis.error_reply('not_found: no task ' .. id)
  end
  if h[1] ~= 'IN_PROGRESS' or h[2] ~= worker then
    local by = ''
    if h[2] and h[2] ~= '' then by = ' (leased to ' .. h[2] .. ')' end
    return redis.error_reply('invalid_argument: task ' .. id .. ' is '
                             .. h[1] .. by .. ', not leased to ' .. worker)
  end
  return nil, h[3] or ''
end
-- Completes id leased to worker with result and records the events in
-- ARGV[first..last]; nil, or the error reply. `no_dependents`: known that
-- no task depends on id.
local function complete_one(id, worker, result, first, last, no_dependents)
  local err, plan = owned(id, worker)
  if err then return err end
  batch('ZREM', P .. ':l', id)
  redis.call('HSET', tk(id), 'state', 'COMPLETED', 'result', result,
             'error', '', 'owner', '', 'lease', '0')
  count_move(plan, 'IN_PROGRESS', 'COMPLETED')
  local dependents = {}
  if not no_dependents then
    dependents = redis.call('SMEMBERS', P .. ':d:' .. id)
  end
  for _, d in ipairs(dependents) do
    local h = redis.call('HMGET', tk(d), 'state', 'prio', 'seq', 'plan', 'nb')
    if h[1] == 'QUEUED' then
      local left = redis.call('HINCRBY', tk(d), 'unmet', -1)
      if left == 0 and tonumber(h[5] or 0) == 0 then ready(d, h) end
    end
  end
  record_events(id, first, last)
  return nil
end
)lua";

/// ARGV: P, now, max_attempts, then per task: id, plan, priority, ndeps,
/// deps..., spec. Returns the number of new tasks. Which ids exist already
/// and whether any has dependents waiting for it are asked once for the
/// batch (ZMSCORE on P:all, which holds every task; EXISTS on the P:w
/// sets); a task costs one HSET and one command per dependency.
constexpr const char* enqueue = R"lua(
local max = ARGV[3]
local tasks, ids, waitsets = {}, {}, {}
local i = 4
while i <= #ARGV do
  local nd = tonumber(ARGV[i + 3])
  local t = {id = ARGV[i], plan = ARGV[i + 1], prio = ARGV[i + 2], deps = {}}
  for k = 1, nd do t.deps[k] = ARGV[i + 3 + k] end
  t.spec = ARGV[i + 4 + nd]
  i = i + 5 + nd
  tasks[#tasks + 1] = t
  ids[#ids + 1] = t.id
  waitsets[#waitsets + 1] = P .. ':w:' .. t.id
end
local known = pieces('ZMSCORE', P .. ':all', ids)
local _, nwaiting = pieces('EXISTS', nil, waitsets)
-- Tasks of this batch that a task before them in it waits for.
local awaited, seen = {}, {}
-- P:s:<id>, spec, ... for one MSET; P:p:<plan> by plan.
local specs, pkeys = {}, {}
local added = 0
local seq0 = tonumber(redis.call('GET', P .. ':seq') or '0')
local seq = seq0
for k, t in ipairs(tasks) do
  local id, plan, prio = t.id, t.plan, t.prio
  if not known[k] and not seen[id] then
    seen[id] = true
    local pkey = pkeys[plan]
    if not pkey then
      pkey = P .. ':p:' .. plan
      pkeys[plan] = pkey
    end
    batch('SADD', pkey, id)
    added = added + 1
    seq = seq + 1
    local unmet, blocked = 0, nil
    for _, d in ipairs(t.deps) do
      local ds = redis.call('HGET', tk(d), 'state')
      if not ds then
        unmet = unmet + 1
        redis.call('SADD', P .. ':w:' .. d, id)
        awaited[d] = true
      else
        redis.call('SADD', P .. ':d:' .. d, id)
        if ds ~= 'COMPLETED' then
          unmet = unmet + 1
          if ds == 'FAILED' or ds == 'BLOCKED' or ds == 'CANCELLED' then
            blocked = d
          end
        end
      end
    end
    if nwaiting > 0 or awaited[id] then
      local waiting = redis.call('SMEMBERS', P .. ':w:' .. id)
      if #waiting > 0 then
        redis.call('SADD', P .. ':d:' .. id, unpack(waiting))
        redis.call('DEL', P .. ':w:' .. id)
      end
    end
    -- Ready at once when nothing is unmet (no second state change).
    local state = 'QUEUED'
    if not blocked and unmet == 0 then state = 'READY' end
    count_move(plan, nil, state)
    -- Strings, not numbers: Redis formats every number it is given.
    local seqs = string.format('%d', seq)
    -- Left out at their default: unmet 0, lease 0, result and error ''
    -- (every reader, also of the versions before, takes a missing one as
    -- its default; attempts, owner and nb stay for those versions).
    if unmet > 0 then
      redis.call('HSET', tk(id), 'state', state, 'plan', plan, 'prio', prio,
                 'seq', seqs, 'attempts', '0', 'max', max, 'owner', '',
                 'nb', '0', 'unmet', string.format('%d', unmet))
    else
      redis.call('HSET', tk(id), 'state', state, 'plan', plan, 'prio', prio,
                 'seq', seqs, 'attempts', '0', 'max', max, 'owner', '',
                 'nb', '0')
    end
    specs[#specs + 1] = P .. ':s:' .. id
    specs[#specs + 1] = t.spec
    batch('ZADD', P .. ':all', seqs, id)
    if blocked then
      block(id, 'dependency ' .. blocked .. ' did not complete')
    elseif state == 'READY' then
      RANKS[id] = ready_rank(prio, seq)
    end
  end
end
pieces('MSET', nil, specs)
if seq ~= seq0 then redis.call('SET', P .. ':seq', seq) end
return added
)lua";

/// ARGV: P, now, worker, ttl, n, base, maxb. Returns leased records.
constexpr const char* lease = R"lua(
local worker, ttl, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
promote(tonumber(ARGV[6]), tonumber(ARGV[7]))
flush_batches() -- tasks promote made READY
local out = {}
-- The first n by rank, then out of the set: ZPOPMIN would send each score
-- as a formatted double, only for the script to parse it.
local ids = redis.call('ZRANGE', P .. ':r', 0, n - 1)
if #ids > 0 then redis.call('ZREMRANGEBYRANK', P .. ':r', 0, #ids - 1) end
local expires = tostring(NOW + ttl)
local speckeys = {}
for k = 1, #ids do speckeys[k] = P .. ':s:' .. ids[k] end
local specs = pieces('MGET', nil, speckeys)
for k, id in ipairs(ids) do
  -- One read and one write per task (and one MGET of the specs for the
  -- batch); the record is built from them. A task queued before P:s keeps
  -- its spec in its hash.
  local key = tk(id)
  local h = redis.call('HMGET', key, 'state', 'attempts', 'max', 'nb', 'seq',
                       'result', 'error', 'plan')
  local spec = specs[k] or redis.call('HGET', key, 'spec')
  local attempts = tostring(tonumber(h[2] or 0) + 1)
  redis.call('HSET', key, 'state', 'IN_PROGRESS', 'owner', worker, 'lease',
             expires, 'attempts', attempts)
  count_move(h[8] or '', h[1], 'IN_PROGRESS')
  batch('ZADD', P .. ':l', expires, id)
  out[k] = {id, spec, 'IN_PROGRESS', attempts, h[3], worker, expires, h[4],
            h[5], h[6], h[7]}
end
return out
)lua";

/// ARGV: P, now, id, worker, ttl, base, maxb.
constexpr const char* extend = R"lua(
local id, worker, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
promote(tonumber(ARGV[6]), tonumber(ARGV[7]))
local err = owned(id, worker)
if err then return err end
redis.call('HSET', tk(id), 'lease', NOW + ttl)
redis.call('ZADD', P .. ':l', NOW + ttl, id)
return record(id)
)lua";

/// ARGV: P, now, id, worker, result, then per outbox event: key, when, blob.
constexpr const char* complete = R"lua(
local err = complete_one(ARGV[3], ARGV[4], ARGV[5], 6, #ARGV)
if err then return err end
return record(ARGV[3])
)lua";

/// ARGV: P, now, then per completion: id, worker, result, the number of its
/// events, the events (key, when, blob)... Returns one string per
/// completion: '' when completed, else the error. Whether any of them has
/// dependents is asked once (EXISTS on their P:d sets).
constexpr const char* complete_many = R"lua(
local out = {}
-- Where each completion starts in ARGV and where its events end.
local spans, depsets = {}, {}
local i = 3
while i <= #ARGV do
  local last = i + 3 + 3 * tonumber(ARGV[i + 3])
  spans[#spans + 1] = {i, last}
  depsets[#depsets + 1] = P .. ':d:' .. ARGV[i]
  i = last + 1
end
local _, ndeps = pieces('EXISTS', nil, depsets)
for _, s in ipairs(spans) do
  local at, last = s[1], s[2]
  local err = complete_one(ARGV[at], ARGV[at + 1], ARGV[at + 2], at + 4, last,
                           ndeps == 0)
  if err then table.insert(out, err.err) else table.insert(out, '') end
end
return out
)lua";

/// ARGV: P, now, id, worker, error, base, maxb, then per outbox event: key,
/// when, blob (see record_events).
constexpr const char* fail = R"lua(
local id, worker, why = ARGV[3], ARGV[4], ARGV[5]
local err = owned(id, worker)
if err then return err end
redis.call('ZREM', P .. ':l', id)
retry_or_fail(id, why, tonumber(ARGV[6]), tonumber(ARGV[7]))
record_events(id, 8, #ARGV)
return record(id)
)lua";

/// ARGV: P, now, id, worker. Back to READY without counting the attempt.
constexpr const char* release = R"lua(
local id, worker = ARGV[3], ARGV[4]
local err = owned(id, worker)
if err then return err end
redis.call('ZREM', P .. ':l', id)
redis.call('HSET', tk(id), 'owner', '', 'lease', 0)
local a = tonumber(redis.call('HGET', tk(id), 'attempts') or 0)
if a > 0 then redis.call('HSET', tk(id), 'attempts', a - 1) end
ready(id)
return record(id)
)lua";

/// ARGV: P, now, plan, base, maxb. Flat list state, count, ... of a plan,
/// from the counters every state change keeps (no walk over the tasks).
constexpr const char* plan_counts = R"lua(
promote(tonumber(ARGV[4]), tonumber(ARGV[5]))
flush_counts()
local out = {}
local h = redis.call('HGETALL', P .. ':pc:' .. ARGV[3])
for k = 1, #h, 2 do
  local n = tonumber(h[k + 1])
  if n > 0 then table.insert(out, h[k]) table.insert(out, n) end
end
return out
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
local st = redis.call('HGET', tk(id), 'state')
if not st then return redis.error_reply('not_found: no task ' .. id) end
if st == 'COMPLETED' or st == 'FAILED' or st == 'CANCELLED' then
  return redis.error_reply('invalid_argument: task ' .. id
                           .. ' is already ' .. st)
end
unready(id)
redis.call('ZREM', P .. ':l', id)
redis.call('ZREM', P .. ':b', id)
setstate(id, 'CANCELLED')
redis.call('HSET', tk(id), 'owner', '')
for _, d in ipairs(redis.call('SMEMBERS', P .. ':d:' .. id)) do
  block(d, 'dependency ' .. id .. ' was cancelled')
end
return record(id)
)lua";

/// ARGV: P, now, id, base, maxb.
constexpr const char* status = R"lua(
promote(tonumber(ARGV[4]), tonumber(ARGV[5]))
local id = ARGV[3]
if redis.call('EXISTS', tk(id)) == 0 then
  return redis.error_reply('not_found: no task ' .. id)
end
return record(id)
)lua";

/// ARGV: P, now, state ('' = all), base, maxb. Records in enqueue order.
/// READY and IN_PROGRESS tasks are found by their own sets, other states by
/// walking all tasks.
constexpr const char* list = R"lua(
promote(tonumber(ARGV[4]), tonumber(ARGV[5]))
flush_batches() -- tasks promote made READY
local want = ARGV[3]
local from = P .. ':all'
if want == 'READY' then from = P .. ':r' end
if want == 'IN_PROGRESS' then from = P .. ':l' end
local out = {}
local walk = from == P .. ':all' and want ~= ''
for _, id in ipairs(redis.call('ZRANGE', from, 0, -1)) do
  if not walk or redis.call('HGET', tk(id), 'state') == want then
    table.insert(out, record(id))
  end
end
table.sort(out, function(a, b) return tonumber(a[9]) < tonumber(b[9]) end)
return out
)lua";

/// ARGV: P, now, state ('' = all), plan, base, maxb. The plan's records in
/// enqueue order, found by the plan's set.
constexpr const char* list_plan = R"lua(
promote(tonumber(ARGV[5]), tonumber(ARGV[6]))
local want = ARGV[3]
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. ':p:' .. ARGV[4])) do
  local r = record(id)
  if want == '' or r[3] == want then table.insert(out, r) end
end
table.sort(out, function(a, b) return tonumber(a[9]) < tonumber(b[9]) end)
return out
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
