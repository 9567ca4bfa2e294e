#pragma once

// The Lua scripts of the Redis TASK QUEUE: every transition runs atomically
// inside Redis. Keys (P = the configured prefix):
//   P:c:<field> hash per field of a task ("columns"), task id -> value, for
//              state, plan, prio, seq, max, attempts, unmet, owner, lease,
//              nb, result and error; a field at its default ('' or 0) is
//              left out, and P:c:state holds every task. A script reads one
//              field of a whole batch with one HMGET and writes it with one
//              HSET: with a hash per task every read and write of a task
//              was a command of its own, and Redis's cost per command run
//              from Lua (~3,000 instructions before any work) was most of
//              the queue's time.
//   P:s:<id>   string: the spec (msgpack task_spec), read with MGET
//   P:d:<id>   set: dependents of <id>
//   P:w:<id>   set: dependents waiting for <id> to be enqueued
//   P:ready    zset: READY tasks, by -priority * 1e10 + seq
//   P:leases   zset: IN_PROGRESS tasks, by lease expiry (ms)
//   P:backoff  zset: tasks waiting for a retry backoff, by due time (ms)
//   P:seq      counter
//   P:p:<plan> set: task ids of a plan (list of one plan)
//   P:pc:<plan> hash: tasks of a plan by state, kept by count_move
//   P:sc       hash: all tasks by state, kept by count_move
//   P:o        hash: the outbox, idempotency key -> event (JSON), written
//              with the completion or failure that causes the event
//   P:op:<plan> set: outbox keys of a plan
//   P:ok       hash: outbox key -> its plan (to leave P:op when dropped)
// The layout before kept a hash per task (P:t:<id>, its spec in P:s:<id>
// or in the hash), the zset P:all of every task and the zsets P:r, P:l and
// P:b; the first script that finds P:all moves every task into the columns
// and the zsets' members into theirs (migrate_hashes). The zsets have new
// names so that a replica of the version before, during a rolling update,
// finds nothing to lease, and its other calls on a moved task answer "no
// task" instead of writing half a hash. A task
// record, as scripts return it: id, spec, state, attempts, max, owner,
// lease, nb, seq, result, error. Errors come back as "<code>: <text>" with
// code not_found or invalid_argument.

namespace orch::redis_lua {

/// Shared functions, prepended to every script. ARGV[1] is the prefix and
/// ARGV[2] the current time in ms in every script.
constexpr const char* prelude = R"lua(
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
-- The score of a READY task in P:r: priority first, then enqueue order.
local function ready_rank(prio, seq)
  return -prio * 1e10 + seq
end
-- Every state change goes through setstate: a task of plan moves from
-- state `from` (nil: a new task) to `to` in the counts by plan and of all
-- tasks. The changes add up in DELTA and reach Redis once, in flush_counts
-- (which every script runs at its end and before it reads a count): a
-- batch of transitions costs a few HINCRBY, not four per task.
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
-- The columns as this script sees them. CACHE[field][id] is the value (a
-- number for the numeric fields, else a string; '' for a missing state:
-- no such task). Writes wait in PEND[field][id] (the string to store, or
-- false for the default) and reach Redis in one HSET and one HDEL per
-- field (flush_columns, at every script's end).
local NUMERIC = {prio = true, seq = true, max = true, attempts = true,
                 unmet = true, lease = true, nb = true}
-- Every column holds this value under the id '' (never a task's: ids
-- must not be blank). Redis keeps a hash of up to 512 short fields as a
-- listpack, searched field by field; a value over 64 bytes makes it a
-- hash table for good, and the column never empties (in-flight columns
-- such as owner emptied with every batch and were searched linearly).
local KEEP = 'a column of the task queue: this value, over 64 bytes, keeps it a hash table'
-- The same for the zsets of READY and IN_PROGRESS tasks, which empty with
-- every batch: this member (score +inf: never due, ranked last) keeps
-- them skip lists; a listpack zset parses every score it passes.
local ZKEEP = '\0the task queue: this member, over 64 bytes, keeps the set a skip list'
local CACHE, PEND, PEND_IDS = {}, {}, {}
local function col(f) return P .. ':c:' .. f end
local function cache_of(f)
  local c = CACHE[f]
  if not c then
    c = {}
    CACHE[f] = c
  end
  return c
end
local function convert(f, v)
  if NUMERIC[f] then return tonumber(v) or 0 end
  return v or ''
end
-- Reads field f of the ids not read yet, with one HMGET.
local function preload(f, ids)
  local c = cache_of(f)
  local need, seen = {}, {}
  for _, id in ipairs(ids) do
    if c[id] == nil and not seen[id] then
      seen[id] = true
      need[#need + 1] = id
    end
  end
  if #need == 0 then return end
  local vals = pieces('HMGET', col(f), need)
  for k, id in ipairs(need) do c[id] = convert(f, vals[k]) end
end
local function get(f, id)
  local c = cache_of(f)
  local v = c[id]
  if v == nil then
    v = convert(f, redis.call('HGET', col(f), id))
    c[id] = v
  end
  return v
end
-- Sets field f of id to v; `s`: v as the string to store, when known.
local function set(f, id, v, s)
  cache_of(f)[id] = v
  local p = PEND[f]
  if not p then
    p = {}
    PEND[f] = p
    PEND_IDS[f] = {}
  end
  if p[id] == nil then
    local l = PEND_IDS[f]
    l[#l + 1] = id
  end
  if v == '' or v == 0 then
    p[id] = false
  elseif type(v) == 'number' then
    p[id] = s or string.format('%d', v)
  else
    p[id] = v
  end
end
-- The hot paths (a batch of plain enqueues, a lease, a batch of plain
-- completions) read and write whole columns themselves, without CACHE: the
-- helpers above cost a few function calls and table look-ups per field and
-- task, which was most of a script's time. They run with nothing pending
-- (flush_columns first) and leave CACHE alone.
-- Field f of ids, as stored (false: missing).
local function column(f, ids)
  return (pieces('HMGET', col(f), ids))
end
-- HSET of id, value, ... pairs into column f, HDEL of ids. KEEP goes
-- with every HSET, in its first piece, so that a column is a hash table
-- from its first write on.
local function write_column(f, pairs_, gone)
  if pairs_ and #pairs_ > 0 then
    local n = #pairs_
    if n <= 998 then
      pairs_[n + 1] = ''
      pairs_[n + 2] = KEEP
    else
      redis.call('HSET', col(f), '', KEEP)
    end
    pieces('HSET', col(f), pairs_)
  end
  if gone and #gone > 0 then pieces('HDEL', col(f), gone) end
end
-- Whole numbers as strings, each formatted once per script.
local NUM_S = {}
local function num_s(k)
  local v = NUM_S[k]
  if not v then
    v = string.format('%d', k)
    NUM_S[k] = v
  end
  return v
end
local function flush_columns()
  for f, ids in pairs(PEND_IDS) do
    local p = PEND[f]
    local hset, hdel = {}, {}
    for _, id in ipairs(ids) do
      local v = p[id]
      if v then
        hset[#hset + 1] = id
        hset[#hset + 1] = v
      else
        hdel[#hdel + 1] = id
      end
    end
    write_column(f, hset, hdel)
  end
  PEND, PEND_IDS = {}, {}
end
-- Specs by id, read with one MGET per batch.
local SPECS = {}
local function preload_specs(ids)
  local need, keys = {}, {}
  for _, id in ipairs(ids) do
    if SPECS[id] == nil then
      SPECS[id] = ''
      need[#need + 1] = id
      keys[#keys + 1] = P .. ':s:' .. id
    end
  end
  if #keys == 0 then return end
  local vals = pieces('MGET', nil, keys)
  for k, id in ipairs(need) do SPECS[id] = vals[k] or '' end
end
-- The fields a record holds besides the spec.
local RECORD = {'state', 'attempts', 'max', 'owner', 'lease', 'nb', 'seq',
                'result', 'error'}
local function preload_records(ids)
  for _, f in ipairs(RECORD) do preload(f, ids) end
  preload_specs(ids)
end
-- Appends the record of id to out: id, spec, state, attempts, max, owner,
-- lease, nb, seq, result, error.
local function add_record(out, id)
  preload_specs({id})
  out[#out + 1] = id
  out[#out + 1] = SPECS[id]
  for _, f in ipairs(RECORD) do out[#out + 1] = get(f, id) end
  return out
end
local function record(id)
  return add_record({}, id)
end
-- Members added to or removed from a set by a script are gathered here and
-- written once per set at the script's end (flush_batches), so a batch of
-- tasks costs a few ZADD, SADD and ZREM, not one each per task. READY
-- scores wait in RANKS, from which a task blocked or cancelled in the same
-- script leaves again; a script flushes before it reads P:r or a P:d set.
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
  if #r > 0 then
    redis.call('ZADD', P .. ':ready', 'inf', ZKEEP)
    pieces('ZADD', P .. ':ready', r)
  end
  for _, b in ipairs(BATCH_ORDER) do pieces(b[1], b[2], b[3]) end
  BATCHES, BATCH_ORDER = {}, {}
end
-- Out of the ready set, also when it was made READY earlier in this script.
local function unready(id)
  RANKS[id] = nil
  redis.call('ZREM', P .. ':ready', id)
end
local function setstate(id, st)
  count_move(get('plan', id), get('state', id), st)
  set('state', id, st)
end
-- Whether the plan has no open task (QUEUED, READY, IN_PROGRESS).
local function plan_done(plan)
  flush_counts()
  local h = redis.call('HMGET', P .. ':pc:' .. plan, 'QUEUED', 'READY',
                       'IN_PROGRESS')
  return (tonumber(h[1]) or 0) + (tonumber(h[2]) or 0)
         + (tonumber(h[3]) or 0) == 0
end
-- Records outbox events given as (key, when, blob) in ARGV[first..last]:
-- when '' always, 'final' if the task FAILED, 'plan_done' if its plan has
-- no open task.
local function record_events(id, first, last)
  if first > last then return end
  local final = get('state', id) == 'FAILED'
  local plan = get('plan', id)
  local done = nil
  for k = first, last, 3 do
    local when = ARGV[k + 1]
    local keep = when == '' or (when == 'final' and final)
    if when == 'plan_done' then
      if done == nil then done = plan_done(plan) end
      keep = done
    end
    if keep then
      redis.call('HSET', P .. ':o', ARGV[k], ARGV[k + 2])
      redis.call('SADD', P .. ':op:' .. plan, ARGV[k])
      redis.call('HSET', P .. ':ok', ARGV[k], plan)
    end
  end
end
-- Into the ready set, by priority and then enqueue order.
local function ready(id)
  setstate(id, 'READY')
  RANKS[id] = ready_rank(get('prio', id), get('seq', id))
end
local function block(id, why)
  flush_batches() -- the P:d sets read below
  local todo = {{id, why}}
  while #todo > 0 do
    local item = table.remove(todo)
    local x, w = item[1], item[2]
    local st = get('state', x)
    if st == 'QUEUED' or st == 'READY' then
      unready(x)
      redis.call('ZREM', P .. ':backoff', x)
      setstate(x, 'BLOCKED')
      set('error', x, w)
      for _, d in ipairs(redis.call('SMEMBERS', P .. ':d:' .. x)) do
        table.insert(todo, {d, 'dependency ' .. x .. ' is blocked: ' .. w})
      end
    end
  end
end
local function retry_or_fail(id, why, base, maxb)
  local attempts = get('attempts', id)
  set('owner', id, '')
  set('lease', id, 0)
  set('error', id, why)
  if attempts >= get('max', id) then
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
  set('nb', id, NOW + delay)
  redis.call('ZADD', P .. ':backoff', NOW + delay, id)
end
local function promote(base, maxb)
  local due = redis.call('ZRANGEBYSCORE', P .. ':backoff', '-inf', NOW)
  if #due > 0 then
    pieces('ZREM', P .. ':backoff', due)
    for _, id in ipairs(due) do
      if get('state', id) == 'QUEUED' then ready(id) end
    end
  end
  local expired = redis.call('ZRANGEBYSCORE', P .. ':leases', '-inf', NOW)
  if #expired > 0 then
    pieces('ZREM', P .. ':leases', expired)
    for _, id in ipairs(expired) do
      if get('state', id) == 'IN_PROGRESS' then
        -- Counts an attempt; back to READY at once (no backoff).
        retry_or_fail(id, 'lease of ' .. get('owner', id) .. ' expired', 0, 0)
      end
    end
  end
end
-- nil when id is leased to worker, else the error.
local function owned(id, worker)
  local st = get('state', id)
  if st == '' then
    return redis.error_reply('not_found: no task ' .. id)
  end
  local owner = get('owner', id)
  if st ~= 'IN_PROGRESS' or owner ~= worker then
    local by = ''
    if owner ~= '' then by = ' (leased to ' .. owner .. ')' end
    return redis.error_reply('invalid_argument: task ' .. id .. ' is '
                             .. st .. by .. ', not leased to ' .. worker)
  end
  return nil
end
-- Completes id leased to worker with result and records the events in
-- ARGV[first..last]; nil, or the error reply. `no_dependents`: known that
-- no task depends on id.
local function complete_one(id, worker, result, first, last, no_dependents)
  local err = owned(id, worker)
  if err then return err end
  batch('ZREM', P .. ':leases', id)
  setstate(id, 'COMPLETED')
  set('result', id, result)
  set('error', id, '')
  set('owner', id, '')
  set('lease', id, 0)
  if not no_dependents then
    local dependents = redis.call('SMEMBERS', P .. ':d:' .. id)
    for _, f in ipairs({'state', 'unmet', 'nb', 'plan', 'prio', 'seq'}) do
      preload(f, dependents)
    end
    for _, d in ipairs(dependents) do
      if get('state', d) == 'QUEUED' then
        local left = get('unmet', d) - 1
        set('unmet', d, left)
        if left == 0 and get('nb', d) == 0 then ready(d) end
      end
    end
  end
  record_events(id, first, last)
  return nil
end
-- Flat records of ids in state `want` ('' = any), in enqueue order.
local function by_seq(ids, want)
  preload('state', ids)
  local keep = {}
  for _, id in ipairs(ids) do
    local st = get('state', id)
    if st ~= '' and (want == '' or st == want) then keep[#keep + 1] = id end
  end
  preload_records(keep)
  table.sort(keep, function(a, b) return get('seq', a) < get('seq', b) end)
  local out = {}
  for _, id in ipairs(keep) do add_record(out, id) end
  return out
end
-- The layout before: a hash per task, the zset P:all and the zsets P:r,
-- P:l and P:b. Moves every task into the columns and the zsets' members
-- into P:ready, P:leases and P:backoff, in one script, so that no script
-- sees both layouts.
local function migrate_hashes()
  local fields = {'state', 'plan', 'prio', 'seq', 'max', 'attempts', 'unmet',
                  'owner', 'lease', 'nb', 'result', 'error'}
  for _, id in ipairs(redis.call('ZRANGE', P .. ':all', 0, -1)) do
    local key = P .. ':t:' .. id
    local h = redis.call('HMGET', key, 'spec', unpack(fields))
    if h[2] then
      for k, f in ipairs(fields) do
        local v = h[k + 1]
        if v and v ~= '' and v ~= '0' then set(f, id, convert(f, v), v) end
      end
      if h[1] then redis.call('SET', P .. ':s:' .. id, h[1]) end
      redis.call('DEL', key)
    end
  end
  flush_columns()
  for old, new in pairs({r = 'ready', l = 'leases', b = 'backoff'}) do
    local xs = redis.call('ZRANGE', P .. ':' .. old, 0, -1, 'WITHSCORES')
    local args = {}
    for k = 1, #xs, 2 do
      args[#args + 1] = xs[k + 1]
      args[#args + 1] = xs[k]
    end
    pieces('ZADD', P .. ':' .. new, args)
    redis.call('DEL', P .. ':' .. old)
  end
  redis.call('DEL', P .. ':all')
end
if redis.call('EXISTS', P .. ':all') == 1 then migrate_hashes() end
)lua";

/// What every script runs after its body (`main`): changed fields, set
/// members and counts reach Redis however the body returns.
constexpr const char* epilogue = R"lua(
local result = main()
flush_columns()
flush_batches()
flush_counts()
return result
)lua";

/// ARGV: P, now, max_attempts, then per task: id, plan, priority, ndeps,
/// deps..., spec. Returns the number of new tasks. The states of the
/// batch's tasks (which exist already) and of their dependencies are read
/// with one HMGET, and whether any has dependents waiting for it with one
/// EXISTS on the P:w sets; a task costs one command per dependency. A
/// batch whose dependencies exist or come earlier in it (none awaited or
/// blocked) takes a hot path that writes each column once.
constexpr const char* enqueue = R"lua(
local max_s = ARGV[3]
local max = tonumber(max_s)
local tasks, want, waitsets = {}, {}, {}
local i = 4
while i <= #ARGV do
  local nd = tonumber(ARGV[i + 3])
  local t = {id = ARGV[i], plan = ARGV[i + 1], prio_s = ARGV[i + 2],
             deps = {}}
  want[#want + 1] = t.id
  for k = 1, nd do
    t.deps[k] = ARGV[i + 3 + k]
    want[#want + 1] = t.deps[k]
  end
  t.spec = ARGV[i + 4 + nd]
  i = i + 5 + nd
  tasks[#tasks + 1] = t
  waitsets[#waitsets + 1] = P .. ':w:' .. t.id
end
local _, nwaiting = pieces('EXISTS', nil, waitsets)
-- The states of the batch's tasks and dependencies, by id.
local known = {}
do
  local st = column('state', want)
  for k, id in ipairs(want) do known[id] = st[k] or '' end
end
-- The hot path serves a batch whose dependencies all exist and are not
-- blocked or come earlier in the batch, with no task waiting for one of
-- it: each column is written once.
local hot = nwaiting == 0
if hot then
  local earlier = {}
  for _, t in ipairs(tasks) do
    for _, d in ipairs(t.deps) do
      local ds = known[d]
      if ds == 'FAILED' or ds == 'BLOCKED' or ds == 'CANCELLED'
         or (ds == '' and not earlier[d]) then
        hot = false
      end
    end
    earlier[t.id] = true
  end
end
if hot then
  local hstate, hplan, hprio, hseq, hmax, hunmet = {}, {}, {}, {}, {}, {}
  local specs, ranks, pkeys = {}, {}, {}
  local added = 0
  local seq0 = tonumber(redis.call('GET', P .. ':seq') or '0')
  local seq = seq0
  for _, t in ipairs(tasks) do
    local id, plan = t.id, t.plan
    -- Known already (also earlier in this batch): enqueue is idempotent.
    if known[id] == '' then
      added = added + 1
      seq = seq + 1
      local seq_s = string.format('%d', seq)
      local pkey = pkeys[plan]
      if not pkey then
        pkey = P .. ':p:' .. plan
        pkeys[plan] = pkey
      end
      batch('SADD', pkey, id)
      local unmet = 0
      for _, d in ipairs(t.deps) do
        batch('SADD', P .. ':d:' .. d, id)
        if known[d] ~= 'COMPLETED' then unmet = unmet + 1 end
      end
      local state = 'READY'
      if unmet > 0 then
        state = 'QUEUED'
        hunmet[#hunmet + 1] = id
        hunmet[#hunmet + 1] = num_s(unmet)
      end
      known[id] = state
      count_move(plan, nil, state)
      local j = added + added
      hstate[j - 1] = id
      hstate[j] = state
      hseq[j - 1] = id
      hseq[j] = seq_s
      hmax[j - 1] = id
      hmax[j] = max_s
      specs[j - 1] = P .. ':s:' .. id
      specs[j] = t.spec
      if plan ~= '' then
        hplan[#hplan + 1] = id
        hplan[#hplan + 1] = plan
      end
      local prio = tonumber(t.prio_s)
      if prio ~= 0 then
        hprio[#hprio + 1] = id
        hprio[#hprio + 1] = t.prio_s
      end
      if state == 'READY' then
        if prio ~= 0 then
          ranks[#ranks + 1] = ready_rank(prio, seq)
        else
          ranks[#ranks + 1] = seq_s
        end
        ranks[#ranks + 1] = id
      end
    end
  end
  write_column('state', hstate)
  write_column('plan', hplan)
  write_column('prio', hprio)
  write_column('seq', hseq)
  write_column('max', hmax)
  write_column('unmet', hunmet)
  pieces('MSET', nil, specs)
  if #ranks > 0 then
    redis.call('ZADD', P .. ':ready', 'inf', ZKEEP)
    pieces('ZADD', P .. ':ready', ranks)
  end
  if seq ~= seq0 then redis.call('SET', P .. ':seq', seq) end
  return added
end
do
  local c = cache_of('state')
  for id, st in pairs(known) do c[id] = st end
end
preload('state', want)
-- Tasks of this batch that a task before them in it waits for.
local awaited = {}
-- P:s:<id>, spec, ... for one MSET; P:p:<plan> by plan.
local specs, pkeys = {}, {}
local added = 0
local seq0 = tonumber(redis.call('GET', P .. ':seq') or '0')
local seq = seq0
for _, t in ipairs(tasks) do
  local id, plan = t.id, t.plan
  -- Known already (also earlier in this batch): enqueue is idempotent.
  if get('state', id) == '' then
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
      local ds = get('state', d)
      if ds == '' then
        unmet = unmet + 1
        redis.call('SADD', P .. ':w:' .. d, id)
        awaited[d] = true
      else
        batch('SADD', P .. ':d:' .. d, id)
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
    local seq_s = string.format('%d', seq)
    local prio = tonumber(t.prio_s)
    -- A new task's fields at their default are not written (nothing to
    -- delete), only remembered.
    set('state', id, state)
    if plan ~= '' then set('plan', id, plan) else cache_of('plan')[id] = '' end
    if prio ~= 0 then set('prio', id, prio, t.prio_s)
    else cache_of('prio')[id] = 0 end
    set('seq', id, seq, seq_s)
    set('max', id, max, max_s)
    if unmet > 0 then set('unmet', id, unmet) end
    specs[#specs + 1] = P .. ':s:' .. id
    specs[#specs + 1] = t.spec
    if blocked then
      block(id, 'dependency ' .. blocked .. ' did not complete')
    elseif state == 'READY' then
      if prio == 0 then RANKS[id] = seq_s else RANKS[id] = ready_rank(prio, seq) end
    end
  end
end
pieces('MSET', nil, specs)
if seq ~= seq0 then redis.call('SET', P .. ':seq', seq) end
return added
)lua";

/// ARGV: P, now, worker, ttl, n, base, maxb. Returns the leased records,
/// flat (11 fields each). A hot path: whole columns, read and written once
/// each for the batch.
constexpr const char* lease = R"lua(
local worker, ttl, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
promote(tonumber(ARGV[6]), tonumber(ARGV[7]))
flush_batches() -- tasks promote made READY
flush_columns() -- and their states, before the columns are read
-- The first n by rank, then out of the set: ZPOPMIN would send each score
-- as a formatted double, only for the script to parse it.
local ids = redis.call('ZRANGE', P .. ':ready', 0, n - 1)
local m = #ids
if m > 0 and ids[m] == ZKEEP then
  ids[m] = nil
  m = m - 1
end
if m == 0 then return {} end
redis.call('ZREMRANGEBYRANK', P .. ':ready', 0, m - 1)
local expires = string.format('%d', NOW + ttl)
local st, plan, att = column('state', ids), column('plan', ids),
                      column('attempts', ids)
local max, nb, seq = column('max', ids), column('nb', ids), column('seq', ids)
-- No result: only a completion writes one, and nothing leaves COMPLETED.
local err = column('error', ids)
local keys = {}
for k = 1, m do keys[k] = P .. ':s:' .. ids[k] end
local specs = pieces('MGET', nil, keys)
local hstate, hatt, howner, hlease, zl, out = {}, {}, {}, {}, {}, {}
local o = 0
for k = 1, m do
  local id = ids[k]
  local a = (tonumber(att[k]) or 0) + 1
  count_move(plan[k] or '', st[k] or 'READY', 'IN_PROGRESS')
  local j = k + k
  hstate[j - 1] = id
  hstate[j] = 'IN_PROGRESS'
  hatt[j - 1] = id
  hatt[j] = num_s(a)
  howner[j - 1] = id
  howner[j] = worker
  hlease[j - 1] = id
  hlease[j] = expires
  zl[j - 1] = expires
  zl[j] = id
  out[o + 1] = id
  out[o + 2] = specs[k] or ''
  out[o + 3] = 'IN_PROGRESS'
  out[o + 4] = a
  out[o + 5] = max[k] or '0'
  out[o + 6] = worker
  out[o + 7] = expires
  out[o + 8] = nb[k] or '0'
  out[o + 9] = seq[k] or '0'
  out[o + 10] = ''
  out[o + 11] = err[k] or ''
  o = o + 11
end
write_column('state', hstate)
write_column('attempts', hatt)
write_column('owner', howner)
write_column('lease', hlease)
redis.call('ZADD', P .. ':leases', 'inf', ZKEEP)
pieces('ZADD', P .. ':leases', zl)
return out
)lua";

/// ARGV: P, now, id, worker, ttl, base, maxb.
constexpr const char* extend = R"lua(
local id, worker, ttl = ARGV[3], ARGV[4], tonumber(ARGV[5])
promote(tonumber(ARGV[6]), tonumber(ARGV[7]))
local err = owned(id, worker)
if err then return err end
set('lease', id, NOW + ttl)
redis.call('ZADD', P .. ':leases', NOW + ttl, id)
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
/// completion: '' when completed, else the error. Whether any of the tasks
/// has dependents is asked with one EXISTS on their P:d sets. Unless a
/// completion carries events (then each goes through complete_one), the
/// batch reads and writes whole columns (a hot path), its dependents' too.
constexpr const char* complete_many = R"lua(
local out = {}
-- Where each completion starts in ARGV and where its events end.
local spans, ids, depsets = {}, {}, {}
local events = false
local i = 3
while i <= #ARGV do
  local nev = tonumber(ARGV[i + 3])
  local last = i + 3 + 3 * nev
  if nev > 0 then events = true end
  spans[#spans + 1] = {i, last}
  ids[#ids + 1] = ARGV[i]
  depsets[#depsets + 1] = P .. ':d:' .. ARGV[i]
  i = last + 1
end
local _, ndeps = pieces('EXISTS', nil, depsets)
if events then
  preload('state', ids)
  preload('owner', ids)
  preload('plan', ids)
  for _, s in ipairs(spans) do
    local at, last = s[1], s[2]
    local err = complete_one(ARGV[at], ARGV[at + 1], ARGV[at + 2], at + 4,
                             last, ndeps == 0)
    if err then table.insert(out, err.err) else table.insert(out, '') end
  end
  return out
end
local st, owner, plan = column('state', ids), column('owner', ids),
                        column('plan', ids)
local hstate, hres, done = {}, {}, {}
local nstate, nres, ndone = 0, 0, 0
for k, s in ipairs(spans) do
  local at = s[1]
  local id, worker, result = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local state, by = st[k], owner[k] or ''
  -- A task twice in one batch: the second finds it COMPLETED.
  if done[id] then state, by = 'COMPLETED', '' end
  if not state then
    out[k] = 'not_found: no task ' .. id
  elseif state ~= 'IN_PROGRESS' or by ~= worker then
    local leased = ''
    if by ~= '' then leased = ' (leased to ' .. by .. ')' end
    out[k] = 'invalid_argument: task ' .. id .. ' is ' .. state .. leased
             .. ', not leased to ' .. worker
  else
    out[k] = ''
    done[id] = true
    ndone = ndone + 1
    ids[ndone] = id
    count_move(plan[k] or '', 'IN_PROGRESS', 'COMPLETED')
    hstate[nstate + 1] = id
    hstate[nstate + 2] = 'COMPLETED'
    nstate = nstate + 2
    if result ~= '' then
      hres[nres + 1] = id
      hres[nres + 2] = result
      nres = nres + 2
    end
  end
end
-- ids now holds the completed ones (in their first ndone places).
for k = #ids, ndone + 1, -1 do ids[k] = nil end
write_column('state', hstate)
write_column('result', hres)
write_column('error', nil, ids)
write_column('owner', nil, ids)
write_column('lease', nil, ids)
if ndone > 0 then pieces('ZREM', P .. ':leases', ids) end
if ndeps == 0 then return out end
-- Dependents: one less unmet each; READY when none is left (and no
-- backoff holds them).
local deps = {}
for k = 1, ndone do
  for _, d in ipairs(redis.call('SMEMBERS', P .. ':d:' .. ids[k])) do
    deps[#deps + 1] = d
  end
end
if #deps == 0 then return out end
local dst, dunmet, dnb = column('state', deps), column('unmet', deps),
                         column('nb', deps)
local dplan, dprio, dseq = column('plan', deps), column('prio', deps),
                           column('seq', deps)
local left, order, readied = {}, {}, {}
local hready = {}
for k, d in ipairs(deps) do
  if dst[k] == 'QUEUED' and not readied[d] then
    local u = left[d]
    if u == nil then
      u = tonumber(dunmet[k]) or 0
      order[#order + 1] = d
    end
    u = u - 1
    left[d] = u
    if u == 0 and (tonumber(dnb[k]) or 0) == 0 then
      readied[d] = true
      count_move(dplan[k] or '', 'QUEUED', 'READY')
      hready[#hready + 1] = d
      hready[#hready + 1] = 'READY'
      RANKS[d] = ready_rank(tonumber(dprio[k]) or 0, tonumber(dseq[k]) or 0)
    end
  end
end
local hunmet, gone = {}, {}
for _, d in ipairs(order) do
  if left[d] == 0 then
    gone[#gone + 1] = d
  else
    hunmet[#hunmet + 1] = d
    hunmet[#hunmet + 1] = num_s(left[d])
  end
end
write_column('state', hready)
write_column('unmet', hunmet, gone)
return out
)lua";

/// ARGV: P, now, id, worker, error, base, maxb, then per outbox event: key,
/// when, blob (see record_events).
constexpr const char* fail = R"lua(
local id, worker, why = ARGV[3], ARGV[4], ARGV[5]
local err = owned(id, worker)
if err then return err end
redis.call('ZREM', P .. ':leases', id)
retry_or_fail(id, why, tonumber(ARGV[6]), tonumber(ARGV[7]))
record_events(id, 8, #ARGV)
return record(id)
)lua";

/// ARGV: P, now, id, worker. Back to READY without counting the attempt.
constexpr const char* release = R"lua(
local id, worker = ARGV[3], ARGV[4]
local err = owned(id, worker)
if err then return err end
redis.call('ZREM', P .. ':leases', id)
set('owner', id, '')
set('lease', id, 0)
local a = get('attempts', id)
if a > 0 then set('attempts', id, a - 1) end
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
local st = get('state', id)
if st == '' then return redis.error_reply('not_found: no task ' .. id) end
if st == 'COMPLETED' or st == 'FAILED' or st == 'CANCELLED' then
  return redis.error_reply('invalid_argument: task ' .. id
                           .. ' is already ' .. st)
end
unready(id)
redis.call('ZREM', P .. ':leases', id)
redis.call('ZREM', P .. ':backoff', id)
setstate(id, 'CANCELLED')
set('owner', id, '')
for _, d in ipairs(redis.call('SMEMBERS', P .. ':d:' .. id)) do
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
/// own sets, other states by walking P:c:state.
constexpr const char* list = R"lua(
promote(tonumber(ARGV[4]), tonumber(ARGV[5]))
flush_batches() -- tasks promote made READY
local want = ARGV[3]
if want == 'READY' then
  return by_seq(redis.call('ZRANGE', P .. ':ready', 0, -1), want)
end
if want == 'IN_PROGRESS' then
  return by_seq(redis.call('ZRANGE', P .. ':leases', 0, -1), want)
end
local ids = {}
local h = redis.call('HGETALL', P .. ':c:state')
for k = 1, #h, 2 do
  if h[k] ~= '' then ids[#ids + 1] = h[k] end
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
