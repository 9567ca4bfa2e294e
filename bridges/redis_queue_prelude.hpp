#pragma once

// The shared part of the Redis TASK QUEUE's Lua scripts (the scripts and
// the stored layout: redis_queue_scripts.hpp): the counts, and the columns
// and the sets as a script sees them. Every script is `prelude`, the
// transitions of one task (`transitions`, redis_queue_transitions.hpp),
// the moves from the layouts before (redis_queue_migrations.hpp), which
// use only the prelude, its body as the function `main`, and `epilogue`.

namespace orch::redis_lua {

/// Shared functions, prepended to every script. ARGV[1] is the prefix and
/// ARGV[2] the current time in ms in every script.
constexpr const char* prelude = R"lua(
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
-- Retention (redis_queue_retention.hpp): note_finish(id) notes a task
-- that finished; a script that sets PURGE has finished tasks past the
-- limits leave at its end.
local note_finish, PURGE = nil, false
-- kept(plan, n): n more tasks of plan kept (retention only).
local kept
-- The zsets of READY, IN_PROGRESS and backing-off tasks (the names before
-- are the previous layouts', see redis_queue_migrations.hpp).
local READY, LEASES, BACKOFF = P .. ':ready2', P .. ':leases2',
                               P .. ':backoff5'
-- The score of a READY task in READY: priority first, then enqueue order.
local function ready_rank(prio, seq)
  return -prio * 1e10 + seq
end
-- The same as the string ZADD takes; seq_s: seq formatted, which is the
-- score at priority 0 (the common case: no number to format). A whole
-- number, formatted as one (Lua turns a number into a string with
-- '%.14g', several times the cost) while it fits a C long.
local function ready_score(prio, seq, seq_s)
  if prio == 0 then return seq_s end
  if prio > -1e8 and prio < 1e8 then
    return string.format('%d', ready_rank(prio, seq))
  end
  return ready_rank(prio, seq)
end
-- Every state change goes through setstate: a task of plan moves from
-- state `from` (nil: a new task) to `to`. The counts of all tasks by state
-- (P:sc) follow every move; of a plan, only the tasks open (QUEUED, READY
-- or IN_PROGRESS: its field in the hash P:open) are counted, so a move
-- between open states (a lease, a dependent made READY, a retry) costs no
-- count of its plan, and a plan's other counts come from its index
-- (plan_counts). The changes add up in TOTAL and OPEN and reach Redis
-- once, in flush_counts (which every script runs at its end and before it
-- reads a count): a batch costs an HINCRBY per state, and one HMGET and
-- one HSET of P:open for all the plans whose open tasks changed (a batch
-- of chain tasks in plans of their own changes as many plans as tasks:
-- an HINCRBY of a key per plan cost each a command).
local IS_OPEN = {QUEUED = true, READY = true, IN_PROGRESS = true}
local TOTAL, OPEN = {}, {}
local OPEN_KEY = P .. ':open'
-- n tasks of plan move from `from` to `to`; plan may be nil for a move
-- between open states.
local function count_runs(plan, from, to, n)
  if n == 0 then return end
  if from then TOTAL[from] = (TOTAL[from] or 0) - n end
  if to then TOTAL[to] = (TOTAL[to] or 0) + n end
  local d = 0
  if from and IS_OPEN[from] then d = d - n end
  if to and IS_OPEN[to] then d = d + n end
  if d ~= 0 then OPEN[plan] = (OPEN[plan] or 0) + d end
end
local function count_move(plan, from, to)
  count_runs(plan, from, to, 1)
end
-- A loop's transitions from `from` to `to`, counted by runs of one plan
-- (a batch is mostly of one plan): step(plan) for each task, done() after
-- the loop.
local function plan_runs(from, to)
  local cur, n = '', 0
  local function step(plan)
    if plan ~= cur then
      count_runs(cur, from, to, n)
      cur, n = plan, 0
    end
    n = n + 1
  end
  local function done()
    count_runs(cur, from, to, n)
    n = 0
  end
  return step, done
end
-- redis.call(cmd, [key,] args...) in pieces of at most 1000 args (Lua's
-- unpack has a limit); table replies joined, number replies added up. A
-- call of one piece (every batch of up to 1000) returns Redis's own table:
-- copying it cost a length look-up and an insert per value.
local function call_piece(cmd, key, args, a, b)
  if key then return redis.call(cmd, key, unpack(args, a, b)) end
  return redis.call(cmd, unpack(args, a, b))
end
local function pieces(cmd, key, args)
  local n = #args
  if n == 0 then return {}, 0 end
  if n <= 1000 then
    local r = call_piece(cmd, key, args, 1, n)
    if type(r) == 'table' then return r, 0 end
    return {}, r
  end
  local out, m, sum = {}, 0, 0
  for a = 1, n, 1000 do
    local r = call_piece(cmd, key, args, a, math.min(a + 999, n))
    if type(r) == 'table' then
      for k = 1, #r do out[m + k] = r[k] end
      m = m + #r
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
local NUMERIC = {attempts = true, unmet = true, nb = true}
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
local function col(f) return P .. ':c2:' .. f end
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
-- Layout 5: a task's state, attempts, m (see meta_of), plan and owner are
-- one field of the column task, its record:
--   "<state> <attempts> <rank> <seq> <max> <#plan>:<plan><owner>"
-- the plan length-prefixed (a plan's id may hold any byte) and the owner
-- last, only while the task is IN_PROGRESS (it may hold any byte too). A
-- lease reads one field where layout 4 read three (the state with the
-- owner, attempts, m) and writes one where it wrote two; a completion reads
-- and writes one for itself and one per dependent where it read three and
-- wrote two; an enqueue writes one where it wrote three. Every field costs
-- Redis a look-up in a hash of every task (a few cache misses) plus its way
-- into and out of Lua, which was the most of the server's time; parsing and
-- rebuilding a record in Lua costs less (bench/redis_layout_synthetic.py).
-- The helpers keep the five as fields of their own (CACHE.state, ...): get,
-- set and preload of any of them read or write the record.
local TASK = 'task'
local IN_REC = {state = true, attempts = true, m = true, plan = true,
                owner = true}
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
-- The record of a task (att_s: its attempts as a string).
local function rec_of(state, att_s, m, plan, owner)
  return state .. ' ' .. att_s .. ' ' .. m .. ' ' .. num_s(#plan) .. ':'
         .. plan .. owner
end
-- The state, attempts (a number), m, plan and owner in a record v (nil
-- or false: no task, '' for each).
local function parse_rec(v)
  if v then
    local s, a, m, pl, at = string.match(
      v, '^(%S+) (%d+) (%S+ %S+ %S+) (%d+):()')
    if s then
      local e = at + tonumber(pl)
      return s, tonumber(a), m, string.sub(v, at, e - 1), string.sub(v, e)
    end
  end
  return '', 0, '', '', ''
end
-- The state in a record v ('': none).
local function state_of(v)
  return v and string.match(v, '^%S+') or ''
end
-- Caches the record v of id (false or nil: no task).
local function rec_fill(id, v)
  local s, a, m, plan, owner = parse_rec(v)
  cache_of('state')[id] = s
  cache_of('attempts')[id] = a
  cache_of('m')[id] = m
  cache_of('plan')[id] = plan
  cache_of('owner')[id] = owner
end
-- Ids whose record changed, written by flush_columns.
local REC_DIRTY, REC_IDS = {}, {}
-- The ids of `ids` that cache c has no value for, each once.
local function unread(c, ids)
  local need, seen = {}, {}
  for _, id in ipairs(ids) do
    if c[id] == nil and not seen[id] then
      seen[id] = true
      need[#need + 1] = id
    end
  end
  return need
end
-- Reads field f of the ids not read yet, with one HMGET (the fields of a
-- record: of the column task). The id '' is no task (its entry is the
-- column's own, KEEP).
local function preload(f, ids)
  if IN_REC[f] then
    local c = cache_of('state')
    if c[''] == nil then rec_fill('', false) end
    local need = unread(c, ids)
    if #need == 0 then return end
    local vals = pieces('HMGET', col(TASK), need)
    for k, id in ipairs(need) do rec_fill(id, vals[k]) end
    return
  end
  local c = cache_of(f)
  if c[''] == nil then c[''] = convert(f, nil) end
  local need = unread(c, ids)
  if #need == 0 then return end
  local vals = pieces('HMGET', col(f), need)
  for k, id in ipairs(need) do c[id] = convert(f, vals[k]) end
end
local function get(f, id)
  local c = cache_of(f)
  local v = c[id]
  if v == nil and IN_REC[f] then
    rec_fill(id, id ~= '' and redis.call('HGET', col(TASK), id))
    return c[id]
  end
  if v == nil then
    if id == '' then
      v = convert(f, nil)
    else
      v = convert(f, redis.call('HGET', col(f), id))
    end
    c[id] = v
  end
  return v
end
-- Sets field f of id to v; `s`: v as the string to store, when known.
local function set(f, id, v, s)
  if IN_REC[f] then
    get(f, id) -- the record's other fields
    cache_of(f)[id] = v
    if not REC_DIRTY[id] then
      REC_DIRTY[id] = true
      REC_IDS[#REC_IDS + 1] = id
    end
    return
  end
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
-- HDEL of ids from column f, unless f holds only its own entry (KEEP):
-- then none of them has a value there (no task has an error, say), and
-- the ids need not go to Redis at all.
local function clear_if_used(f, ids)
  if redis.call('HLEN', col(f)) > 1 then write_column(f, nil, ids) end
end
-- Adds add[f] to field f of the hash key, for each f of fields, with one
-- HMGET and one HSET; a field whose sum keep(sum) refuses leaves the hash
-- (HDEL). Returns the fields that left.
local function hash_add(key, fields, add, keep)
  local gone = {}
  if #fields == 0 then return gone end
  local before = pieces('HMGET', key, fields)
  local after = {}
  for k, f in ipairs(fields) do
    local v = (tonumber(before[k]) or 0) + add[f]
    if keep(v) then
      after[#after + 1] = f
      after[#after + 1] = num_s(v)
    else
      gone[#gone + 1] = f
    end
  end
  pieces('HSET', key, after)
  pieces('HDEL', key, gone)
  return gone
end
local function nonzero(v) return v ~= 0 end
-- Writes the counts gathered in TOTAL and OPEN (see count_runs).
local function flush_counts()
  local plans, n = {}, 0
  for plan, d in pairs(OPEN) do
    if d ~= 0 then
      n = n + 1
      plans[n] = plan
    end
  end
  -- A plan with no open task left leaves the hash (its count reads 0), so
  -- that the hash holds the plans under way, not every plan ever run.
  if n == 1 then
    local plan = plans[1]
    if redis.call('HINCRBY', OPEN_KEY, plan, OPEN[plan]) == 0 then
      redis.call('HDEL', OPEN_KEY, plan)
    end
  elseif n > 1 then
    hash_add(OPEN_KEY, plans, OPEN, nonzero)
  end
  for st, d in pairs(TOTAL) do
    if d ~= 0 then redis.call('HINCRBY', P .. ':sc', st, d) end
  end
  TOTAL, OPEN = {}, {}
end
-- The open tasks of a plan.
local function plan_open(plan)
  flush_counts()
  return tonumber(redis.call('HGET', OPEN_KEY, plan)) or 0
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
  if #REC_IDS > 0 then
    local st, att, m = CACHE.state, CACHE.attempts, CACHE.m
    local plan, own = CACHE.plan, CACHE.owner
    local hset, hdel = {}, {}
    for _, id in ipairs(REC_IDS) do
      local s = st[id]
      if s == '' then
        hdel[#hdel + 1] = id
      else
        local o = s == 'IN_PROGRESS' and own[id] or ''
        local mv = m[id]
        if mv == '' then mv = '0 0 0' end
        hset[#hset + 1] = id
        hset[#hset + 1] = rec_of(s, num_s(att[id]), mv, plan[id], o)
      end
    end
    write_column(TASK, hset, hdel)
    REC_DIRTY, REC_IDS = {}, {}
  end
end
-- Specs by id, read with one MGET per batch.
local SPECS = {}
local function preload_specs(ids)
  local need = unread(SPECS, ids)
  if #need == 0 then return end
  local keys = {}
  for k, id in ipairs(need) do keys[k] = P .. ':s:' .. id end
  local vals = pieces('MGET', nil, keys)
  for k, id in ipairs(need) do SPECS[id] = vals[k] or '' end
end
-- A task's m, part of its record, written once at its enqueue: "<rank>
-- <seq> <max>", its score in READY (priority first, then enqueue order),
-- its enqueue order and its attempts allowed (the bridge reads seq and max
-- out of a lease).
local function meta_of(rank, seq_s, max_s)
  return rank .. ' ' .. seq_s .. ' ' .. max_s
end
-- The rank (a string, as ZADD takes it), seq and max of task id.
local function meta(id)
  local r, s, x = string.match(get('m', id), '^(%S+) (%S+) (%S+)$')
  return r or '0', tonumber(s) or 0, tonumber(x) or 0
end
-- The dependents of a task are its value in the column d, their ids
-- joined by NUL (ids hold none: the bridge refuses them). For a chain, the
-- value is the one dependent's id itself.
-- add_ids puts the ids of such a value into out after its first n and
-- returns the new count (no table of its own: a batch gathers all of its
-- tasks' dependents in one).
local function add_ids(out, n, v)
  if not v or v == '' then return n end
  if not string.find(v, '\0', 1, true) then
    out[n + 1] = v
    return n + 1
  end
  for d in string.gmatch(v, '%Z+') do
    n = n + 1
    out[n] = d
  end
  return n
end
local function split_ids(v)
  local out = {}
  add_ids(out, 0, v)
  return out
end
local function dependents_of(id)
  return split_ids(get('d', id))
end
-- Adds the ids in ds to what column f (d, w) holds for id.
local function append_ids(f, id, ds)
  if #ds == 0 then return end
  local v = get(f, id)
  local add = table.concat(ds, '\0')
  if v ~= '' then add = v .. '\0' .. add end
  set(f, id, add)
end
-- Adds the ids in ds to the dependents of id.
local function add_dependents(id, ds)
  append_ids('d', id, ds)
end
)lua";

/// What every script runs after its body (`main`): changed fields, set
/// members and counts reach Redis however the body returns.
constexpr const char* epilogue = R"lua(
local result = main()
if PURGE then purge() end
flush_columns()
flush_batches()
flush_finished()
flush_kept()
flush_counts()
return result
)lua";

} // namespace orch::redis_lua
