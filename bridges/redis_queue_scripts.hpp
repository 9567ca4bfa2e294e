#pragma once

// The Lua scripts of the Redis TASK QUEUE: every transition runs atomically
// inside Redis. Keys (P = the configured prefix), layout 5:
//   P:c2:<field> hash per field of a task ("columns"), task id -> value,
//              for task (its record: "<state> <attempts> <rank> <seq>
//              <max> <#plan>:<plan><owner>", rank, seq and max written
//              once at enqueue: the task's score in P:ready2, its enqueue
//              order, its attempts allowed; the owner only while
//              IN_PROGRESS; rec_of in redis_queue_prelude.hpp), unmet (a
//              QUEUED task's unmet dependencies beyond the first: one
//              waiting for one has no entry), nb, result and error; d (the
//              task's dependents, their ids joined by NUL); w (the tasks
//              waiting for a task not yet enqueued, by its id: ids joined
//              by NUL, moved into its d when it comes). A field at its
//              default ('' or 0) is left out, and P:c2:task holds every
//              task; each column also holds an entry of its own under the
//              id '' (KEEP, no task), and P:ready2 and P:leases2 a member
//              of their own (ZKEEP, score +inf), which keep them hash
//              tables and skip lists (redis_queue_prelude.hpp). A script
//              reads one field of a whole batch with one HMGET and writes
//              it with one HSET: with a hash per task every read and write
//              of a task was a command of its own, and Redis's cost per
//              command run from Lua (~3,000 instructions before any work)
//              was most of the queue's time. Each field a batch touches is
//              a look-up per task in a hash of every task, so the fields a
//              hot path needs together share a value (the record), and a
//              task's dependents are a field, not a key of their own.
//   P:s:<id>   string: the spec (msgpack task_spec), read with MGET
//   P:ready2   zset: READY tasks, by -priority * 1e10 + seq
//   P:leases2  zset: IN_PROGRESS tasks, by lease expiry (ms)
//   P:backoff5 zset: tasks waiting for a retry backoff, by due time (ms)
//   P:seq      counter
//   P:p:<plan> set: task ids of a plan (list of one plan)
//   P:open     hash: plan -> its open tasks (QUEUED, READY, IN_PROGRESS),
//              kept by count_move (the layouts before kept a hash per plan,
//              P:pc:<plan>: redis_queue_migrations.hpp)
//   P:sc       hash: all tasks by state, kept by count_move
//   P:o        hash: the outbox, idempotency key -> event (JSON), written
//              with the completion or failure that causes the event
//   P:op:<plan> set: outbox keys of a plan
//   P:ok       hash: outbox key -> its plan (to leave P:op when dropped)
//   P:c:state  string: says the queue moved to layout 2; every script of
//              layout 1 fails on it (redis_queue_migrations.hpp); since
//              layout 6 its mark (below)
//   P:all      string: the same for layout 3 (scripts of layouts 0 to 2)
//   P:c2:state, P:backoff2 strings: the same for layout 4 (scripts of
//              layout 3)
//   P:c2:st, P:backoff4 strings: the same for layout 5 (scripts of
//              layout 4)
//   P:c:state, P:c:seq  a hash with the field "\0layout 6" and a string:
//              the same for layout 6 (scripts of layouts 2 to 5), whose
//              retention keys are lists and a hash
//              (redis_queue_retention.hpp)
// The layouts before (a hash per task; columns P:c:<field> with sets
// P:d:<id> and P:w:<id>; the columns P:c2:state and P:c2:owner, a hash
// P:pc:<plan> per plan; the columns st, attempts, m and plan) are moved
// into this one by the first script that finds them
// (redis_queue_migrations.hpp). A task record, as scripts return it: id, spec, state, attempts, max, owner, lease, nb, seq, result,
// error. Errors come back as "<code>: <text>" with code not_found or
// invalid_argument.
// The scripts of a batch: the leases and completions here, the enqueue in
// redis_queue_enqueue_script.hpp; those of one task and the queries in
// redis_queue_task_scripts.hpp.

#include "bridges/redis_queue_transitions.hpp"

namespace orch::redis_lua {

/// ARGV: P, now, worker, ttl, n, base, maxb. Returns the leased tasks,
/// flat: spec (which holds the id), attempts, m (whose seq and max the
/// bridge reads), and only when attempts is over 1 (a task tried before)
/// nb and error, which no other task has (their state, owner, lease and
/// result are the same for all: IN_PROGRESS, worker, now + ttl, none). A
/// hot path: whole columns, read and written once each for the batch.
constexpr const char* lease = R"lua(
local worker, ttl, n = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
promote(tonumber(ARGV[6]), tonumber(ARGV[7]))
flush_batches() -- tasks promote made READY
flush_columns() -- and their states, before the columns are read
-- The first n by rank, then out of the set: ZPOPMIN would send each score
-- as a formatted double, only for the script to parse it.
local ids = redis.call('ZRANGE', READY, 0, n - 1)
local m = #ids
if m > 0 and ids[m] == ZKEEP then
  ids[m] = nil
  m = m - 1
end
if m == 0 then return {} end
redis.call('ZREMRANGEBYRANK', READY, 0, m - 1)
local expires = string.format('%d', NOW + ttl)
local rec = column(TASK, ids)
-- Each READY task's attempts, m and the rest of its record after m (its
-- plan: a READY task has no owner); false for any other.
local att, meta, tail = {}, {}, {}
-- No result: only a completion writes one, and nothing leaves COMPLETED.
-- A not-before time and an error are only written by retry_or_fail, to a
-- task that was leased (attempts counted, and a release takes back only
-- its own lease's), so a task never attempted has neither: they are read
-- for the tasks attempted before, usually none.
local nb, err = {}, {}
do
  local again, at = {}, {}
  for k = 1, m do
    local v = rec[k]
    local a, mk, t = false, false, false
    if v then a, mk, t = string.match(v, '^READY (%d+) (%S+ %S+ %S+)( .*)$') end
    att[k], meta[k], tail[k] = a, mk, t
    if a and a ~= '0' then
      again[#again + 1] = ids[k]
      at[#at + 1] = k
    end
  end
  if #again > 0 then
    local n2, e2 = column('nb', again), column('error', again)
    for x, k in ipairs(at) do
      nb[k] = n2[x]
      err[k] = e2[x]
    end
  end
end
local keys = {}
for k = 1, m do keys[k] = P .. ':s:' .. ids[k] end
local specs = pieces('MGET', nil, keys)
local hrec, zl, out = {}, {}, {}
local o, j = 0, 0
for k = 1, m do
  local id = ids[k]
  -- Only a READY task is leased (a member left behind by anything else
  -- just leaves the set).
  if att[k] then
    local a = tonumber(att[k]) + 1
    local mk = meta[k]
    j = j + 2
    hrec[j - 1] = id
    hrec[j] = 'IN_PROGRESS ' .. num_s(a) .. ' ' .. mk .. tail[k] .. worker
    zl[j - 1] = expires
    zl[j] = id
    out[o + 1] = specs[k] or ''
    out[o + 2] = a
    out[o + 3] = mk
    o = o + 3
    if a > 1 then
      out[o + 1] = nb[k] or '0'
      out[o + 2] = err[k] or ''
      o = o + 2
    end
  end
end
-- Open before and after: no count of their plans changes.
count_runs(nil, 'READY', 'IN_PROGRESS', j / 2)
write_column(TASK, hrec)
if j > 0 then
  redis.call('ZADD', LEASES, 'inf', ZKEEP)
  pieces('ZADD', LEASES, zl)
end
return out
)lua";

/// ARGV: P, now, then per completion: id, worker, result, the number of its
/// events, the events (key, when, blob)... Returns the completions that
/// failed, flat: the completion's place in the batch (from 1), its error.
/// The tasks' dependents are read with one HMGET of the column d. Unless a
/// completion carries events (then each goes through complete_one), the
/// batch reads and writes whole columns (a hot path), its dependents' too.
constexpr const char* complete_many = R"lua(
PURGE = true
local out, nout = {}, 0
local function failed(k, why)
  out[nout + 1] = k
  out[nout + 2] = why
  nout = nout + 2
end
-- Where each completion starts in ARGV and where its events end.
local starts, lasts, ids = {}, {}, {}
local n = 0
local events = false
local i, nargs = 3, #ARGV
while i <= nargs do
  local nev_s = ARGV[i + 3]
  local last = i + 3
  if nev_s ~= '0' then
    last = last + 3 * tonumber(nev_s)
    events = true
  end
  n = n + 1
  starts[n] = i
  lasts[n] = last
  local id = ARGV[i]
  ids[n] = id
  i = last + 1
end
-- Each task's dependents (false: none), and whether any has some.
local dv = column('d', ids)
local ndeps = 0
for k = 1, n do
  if dv[k] then ndeps = ndeps + 1 end
end
if events then
  preload('state', ids) -- the records: the owners and plans too
  for k = 1, n do
    local at, last = starts[k], lasts[k]
    local err = complete_one(ARGV[at], ARGV[at + 1], ARGV[at + 2], at + 4,
                             last, not dv[k])
    if err then failed(k, err.err) end
  end
  return out
end
local rec = column(TASK, ids)
local hrec, hres, done, ddone = {}, {}, {}, {}
local nrec, nres, ndone = 0, 0, 0
-- Completions refused while their task was QUEUED: a completion before
-- them in the batch may have made it READY (see reword).
local queued_fails = nil
local completed, completed_done = plan_runs('IN_PROGRESS', 'COMPLETED')
for k = 1, n do
  local at = starts[k]
  local id, worker, result = ARGV[at], ARGV[at + 1], ARGV[at + 2]
  local v = rec[k]
  -- A task twice in one batch: the second finds it COMPLETED. The id ''
  -- is no task (its entry is the column's own).
  if done[id] or id == '' then v = false end
  -- The record of a task leased to worker: its attempts and m after the
  -- state, its plan (length first) and then its owner.
  local head, pl, pos = nil, nil, nil
  if v then
    head, pl, pos = string.match(v, '^IN_PROGRESS( %d+ %S+ %S+ %S+ )(%d+):()')
  end
  local plan, ok = nil, false
  if head then
    local e = pos + tonumber(pl)
    plan = string.sub(v, pos, e - 1)
    ok = string.sub(v, e) == worker
  end
  if not ok then
    local state, _, _, _, by = parse_rec(v)
    if done[id] then state = 'COMPLETED' end
    failed(k, not_leased(id, state, by, worker))
    if state == 'QUEUED' then
      queued_fails = queued_fails or {}
      queued_fails[k] = true
    end
  else
    done[id] = true
    note_finish(id)
    ndone = ndone + 1
    ids[ndone] = id
    ddone[ndone] = dv[k]
    completed(plan)
    hrec[nrec + 1] = id
    hrec[nrec + 2] = 'COMPLETED' .. head .. pl .. ':' .. plan
    nrec = nrec + 2
    if result ~= '' then
      hres[nres + 1] = id
      hres[nres + 2] = result
      nres = nres + 2
    end
  end
end
completed_done()
-- ids now holds the completed ones (in their first ndone places).
for k = #ids, ndone + 1, -1 do ids[k] = nil end
write_column(TASK, hrec)
write_column('result', hres)
-- Errors are rare (a task failed before).
clear_if_used('error', ids)
if ndone > 0 then pieces('ZREM', LEASES, ids) end
if ndeps == 0 then return out end
-- Dependents: one less unmet each; READY when none is left. A dependent
-- still waiting (QUEUED, unmet) was never leased, so no backoff holds it
-- (only a retry sets a not-before time, to a task that was leased).
local deps, nd = {}, 0
-- dfrom: the place in the batch of the completion each dependent came
-- from (only when a refusal may need it: the completions done are the
-- batch's places not refused, in order).
local dfrom, dpos = nil, nil
if queued_fails then
  local refused = {}
  for x = 1, nout, 2 do refused[out[x]] = true end
  dfrom, dpos = {}, {}
  for k = 1, n do
    if not refused[k] then dpos[#dpos + 1] = k end
  end
end
for k = 1, ndone do
  local n0 = nd
  nd = add_ids(deps, nd, ddone[k])
  if dfrom then
    for j = n0 + 1, nd do dfrom[j] = dpos[k] end
  end
end
if nd == 0 then return out end
local drec = column(TASK, deps)
-- A QUEUED dependent's record after its state (the same when READY: a
-- QUEUED task has no owner) and its rank, by place in deps (false: not
-- QUEUED).
local after, drank = {}, {}
for k = 1, nd do
  local v = drec[k]
  if v then after[k], drank[k] = string.match(v, '^QUEUED( %d+ (%S+).*)$') end
end
-- readied: a dependent made READY, and where in deps that happened.
local hready, nready, readied = {}, 0, {}
local function queued(k)
  return after[k]
end
local function make_ready(k, d)
  readied[d] = k
  hready[nready + 1] = d
  hready[nready + 2] = 'READY' .. after[k]
  nready = nready + 2
  RANKS[d] = drank[k]
end
-- Writes the records of the dependents made READY and counts them (open
-- before and after: no count of their plans changes).
local function ready_counted()
  count_runs(nil, 'QUEUED', 'READY', nready / 2)
  write_column(TASK, hready)
end
-- A refusal names the state the task had at its place in the batch, as
-- completions one by one would: READY when a completion before it made
-- it so.
local function reword()
  if not queued_fails then return end
  for x = 1, nout, 2 do
    local k = out[x]
    if queued_fails[k] then
      local id = ARGV[starts[k]]
      local j = readied[id]
      if j and dfrom[j] < k then
        out[x + 1] = not_leased(id, 'READY', '', ARGV[starts[k] + 1])
      end
    end
  end
end
-- The column unmet holds only dependents waiting for more than one: when
-- it holds nothing but its own entry (chains, fan-out), each QUEUED
-- dependent is READY now.
if redis.call('HLEN', col('unmet')) <= 1 then
  for k = 1, nd do
    local d = deps[k]
    if queued(k) and not readied[d] then make_ready(k, d) end
  end
  ready_counted()
  reword()
  return out
end
local dunmet = column('unmet', deps)
-- left: a dependent's unmet dependencies (the column holds those beyond
-- the first); had: whether the column had an entry to delete.
local left, had, order, norder = {}, {}, {}, 0
for k = 1, nd do
  local d = deps[k]
  if queued(k) and not readied[d] then
    local u = left[d]
    if u == nil then
      u = (tonumber(dunmet[k]) or 0) + 1
      had[d] = dunmet[k] and true or false
      norder = norder + 1
      order[norder] = d
    end
    u = u - 1
    left[d] = u
    if u == 0 then make_ready(k, d) end
  end
end
local hunmet, gone, nunmet, ngone = {}, {}, 0, 0
for k = 1, norder do
  local d = order[k]
  local u = left[d]
  if u > 1 then
    hunmet[nunmet + 1] = d
    hunmet[nunmet + 2] = num_s(u - 1)
    nunmet = nunmet + 2
  elseif had[d] then
    ngone = ngone + 1
    gone[ngone] = d
  end
end
ready_counted()
write_column('unmet', hunmet, gone)
reword()
return out
)lua";

} // namespace orch::redis_lua
