#pragma once

// The Redis TASK QUEUE's enqueue: a batch of new tasks with their
// dependencies, written a column at a time (the stored layout and the other
// scripts of a batch: redis_queue_scripts.hpp).

#include "bridges/redis_queue_transitions.hpp"

namespace orch::redis_lua {

/// ARGV: P, now, max_attempts, then per task: id, plan, priority, ndeps,
/// deps..., spec. Returns the number of new tasks. The states of the
/// batch's tasks (which exist already) and of their dependencies are read
/// with one HMGET, and whether any has dependents waiting for it with one
/// HMGET of the column w (only when w holds any). A batch whose
/// dependencies exist or come earlier in it (none awaited or blocked)
/// takes a hot path that writes each column once, the dependencies'
/// column d too.
constexpr const char* enqueue = R"lua(
local max_s = ARGV[3]
-- The batch's tasks as columns: ids, plans, priorities (as sent),
-- dependencies and specs (no table per task).
local tid, tplan, tprio, tdeps, tspec = {}, {}, {}, {}, {}
-- want: the ids whose states the batch reads. A task's one dependency is
-- left out when it is the task before it in the batch (a chain) or the
-- dependency asked for last (a fan-out's root): asking Redis for it again
-- cost a look-up and a value into Lua per task. (A table of the ids asked
-- for cost more than it saved, for tasks without dependencies.)
local want = {}
local nt, nw = 0, 0
local prev, last_dep = nil, nil
-- The dependencies of every task without any (most).
local NODEPS = {}
local i, nargs = 4, #ARGV
while i <= nargs do
  local nd_s = ARGV[i + 3]
  local nd = nd_s == '0' and 0 or tonumber(nd_s)
  local id = ARGV[i]
  local deps = NODEPS
  nw = nw + 1
  want[nw] = id
  if nd == 1 then
    local d = ARGV[i + 4]
    deps = {d}
    if d ~= prev and d ~= last_dep then
      nw = nw + 1
      want[nw] = d
      last_dep = d
    end
  elseif nd > 0 then
    deps = {}
    for k = 1, nd do
      local d = ARGV[i + 3 + k]
      deps[k] = d
      nw = nw + 1
      want[nw] = d
    end
  end
  prev = id
  nt = nt + 1
  tid[nt] = id
  tplan[nt] = ARGV[i + 1]
  tprio[nt] = ARGV[i + 2]
  tdeps[nt] = deps
  tspec[nt] = ARGV[i + 4 + nd]
  i = i + 5 + nd
end
-- Tasks waiting for the batch's tasks (the column w), read only when w
-- holds more than its own entry: usually nothing waits.
local waits, nwaiting = nil, 0
if redis.call('HLEN', col('w')) > 1 then
  waits = column('w', tid)
  for k = 1, nt do
    if waits[k] then nwaiting = nwaiting + 1 end
  end
end
-- The states of the batch's tasks and dependencies, by id ('': no task),
-- from their records (kept for the helpers, should the hot path not do).
local known, recs = {}, column(TASK, want)
for k = 1, nw do
  local id = want[k]
  known[id] = id ~= '' and state_of(recs[k]) or ''
end
-- With retention (redis_queue_retention.hpp), the tombstones of the ids
-- not kept: a task that left is not enqueued again, a dependency that left
-- COMPLETED is met, one that left otherwise blocks (as if FAILED).
local GONE_OF = {}
if RETAIN then
  local unknown = {}
  for k = 1, nw do
    local id = want[k]
    if id ~= '' and known[id] == '' then unknown[#unknown + 1] = id end
  end
  GONE_OF = tombstones(unknown)
  for id, bit in pairs(GONE_OF) do
    known[id] = bit == 1 and 'COMPLETED' or 'FAILED'
  end
end
-- The hot path serves a batch whose dependencies all exist and are not
-- blocked or come earlier in the batch, with no task waiting for one of
-- it: each column is written once.
local hot = nwaiting == 0
if hot then
  local earlier = {}
  for x = 1, nt do
    local deps = tdeps[x]
    for k = 1, #deps do
      local d = deps[k]
      local ds = known[d]
      if ds == 'FAILED' or ds == 'BLOCKED' or ds == 'CANCELLED'
         or (ds == '' and not earlier[d]) then
        hot = false
      end
    end
    earlier[tid[x]] = true
  end
end
if hot then
  local NEW = '\0new'
  local hrec, hunmet = {}, {}
  local specs, ranks = {}, {}
  local added, nranks = 0, 0
  -- A run of new tasks of one plan: their ids (for P:p:<plan>) and how
  -- many are READY; written when the plan changes and at the end.
  local run_plan, run_ids, run_n, run_ready = nil, {}, 0, 0
  local function end_run()
    if run_n == 0 then return end
    pieces('SADD', P .. ':p:' .. run_plan, run_ids)
    count_runs(run_plan, nil, 'READY', run_ready)
    count_runs(run_plan, nil, 'QUEUED', run_n - run_ready)
    kept(run_plan, run_n)
    run_ids, run_n, run_ready = {}, 0, 0
  end
  -- The new dependents of each dependency (its column d: the one id, or a
  -- table of them when there are more), and the dependencies in the order
  -- first named.
  local dependents, waited, nwaited = {}, {}, 0
  local seq0 = tonumber(redis.call('GET', P .. ':seq') or '0')
  local seq = seq0
  for x = 1, nt do
    local id, plan = tid[x], tplan[x]
    -- Known already (also earlier in this batch): enqueue is idempotent.
    if known[id] == '' then
      added = added + 1
      seq = seq + 1
      local seq_s = string.format('%d', seq)
      if plan ~= run_plan then
        end_run()
        run_plan = plan
      end
      run_n = run_n + 1
      run_ids[run_n] = id
      local unmet = 0
      local deps = tdeps[x]
      for k = 1, #deps do
        local d = deps[k]
        local ds = dependents[d]
        if GONE_OF[d] then
          -- Left COMPLETED (else the batch is not hot): no dependents kept.
        elseif not ds then
          dependents[d] = id
          nwaited = nwaited + 1
          waited[nwaited] = d
        elseif type(ds) == 'string' then
          dependents[d] = {ds, id}
        else
          ds[#ds + 1] = id
        end
        if known[d] ~= 'COMPLETED' then unmet = unmet + 1 end
      end
      local state = 'READY'
      if unmet > 0 then
        state = 'QUEUED'
      else
        run_ready = run_ready + 1
      end
      if unmet > 1 then
        hunmet[#hunmet + 1] = id
        hunmet[#hunmet + 1] = num_s(unmet - 1)
      end
      -- New in this batch: not COMPLETED, and no dependents stored yet.
      known[id] = NEW
      local j = added + added
      specs[j - 1] = P .. ':s:' .. id
      specs[j] = tspec[x]
      local prio_s = tprio[x]
      local rank = seq_s
      if prio_s ~= '0' then rank = ready_score(tonumber(prio_s), seq, seq_s) end
      hrec[j - 1] = id
      -- rec_of(state, '0', meta_of(rank, seq_s, max_s), plan, ''), in one
      -- concatenation.
      hrec[j] = state .. ' 0 ' .. rank .. ' ' .. seq_s .. ' ' .. max_s .. ' '
                .. num_s(#plan) .. ':' .. plan
      if state == 'READY' then
        ranks[nranks + 1] = rank
        ranks[nranks + 2] = id
        nranks = nranks + 2
      end
    end
  end
  end_run()
  write_column(TASK, hrec)
  write_column('unmet', hunmet)
  pieces('MSET', nil, specs)
  if nranks > 0 then
    redis.call('ZADD', READY, 'inf', ZKEEP)
    pieces('ZADD', READY, ranks)
  end
  if nwaited > 0 then
    -- Appended to what each dependency's column d holds, read only for the
    -- dependencies enqueued before this batch (one new in it has nothing
    -- there yet: a chain enqueued whole reads nothing).
    local old, nold = {}, 0
    for k = 1, nwaited do
      local d = waited[k]
      if known[d] ~= NEW then
        nold = nold + 1
        old[nold] = d
      end
    end
    local had, hd = {}, {}
    if nold > 0 then
      local v = column('d', old)
      for k = 1, nold do had[old[k]] = v[k] end
    end
    for k = 1, nwaited do
      local d = waited[k]
      local v = dependents[d]
      if type(v) ~= 'string' then v = table.concat(v, '\0') end
      local h = had[d]
      if h then v = h .. '\0' .. v end
      hd[k + k - 1] = d
      hd[k + k] = v
    end
    write_column('d', hd)
  end
  if seq ~= seq0 then redis.call('SET', P .. ':seq', seq) end
  return added
end
-- The states read above serve the helpers too.
do
  for k = 1, nw do
    local id = want[k]
    if id ~= '' then rec_fill(id, recs[k]) end
  end
  local w = cache_of('w')
  for k = 1, nt do w[tid[k]] = waits and waits[k] or '' end
end
-- P:s:<id>, spec, ... for one MSET; P:p:<plan> by plan.
local specs, pkeys = {}, {}
local added = 0
local seq0 = tonumber(redis.call('GET', P .. ':seq') or '0')
local seq = seq0
for x = 1, nt do
  local id, plan = tid[x], tplan[x]
  -- Known already (also earlier in this batch): enqueue is idempotent.
  if get('state', id) == '' and not GONE_OF[id] then
    local pkey = pkeys[plan]
    if not pkey then
      pkey = P .. ':p:' .. plan
      pkeys[plan] = pkey
    end
    batch('SADD', pkey, id)
    kept(plan, 1)
    added = added + 1
    seq = seq + 1
    local unmet, blocked = 0, nil
    for _, d in ipairs(tdeps[x]) do
      local ds, g = get('state', d), GONE_OF[d]
      if g then
        -- Left: met when it COMPLETED, else it never will be.
        if g == 0 then
          unmet = unmet + 1
          blocked = d
        end
      elseif ds == '' then
        unmet = unmet + 1
        append_ids('w', d, {id})
      else
        add_dependents(d, {id})
        if ds ~= 'COMPLETED' then
          unmet = unmet + 1
          if ds == 'FAILED' or ds == 'BLOCKED' or ds == 'CANCELLED' then
            blocked = d
          end
        end
      end
    end
    -- (A task that left, retention, left this list too.)
    local waiting = split_ids(get('w', id))
    if #waiting > 0 then
      add_dependents(id, waiting)
      set('w', id, '')
    end
    -- Ready at once when nothing is unmet (no second state change).
    local state = 'QUEUED'
    if not blocked and unmet == 0 then state = 'READY' end
    count_move(plan, nil, state)
    -- Strings, not numbers: Redis formats every number it is given.
    local seq_s = string.format('%d', seq)
    local rank = ready_score(tonumber(tprio[x]), seq, seq_s)
    -- Its record; unmet only when over one (a field at its default is
    -- not written: nothing to delete).
    set('state', id, state)
    set('plan', id, plan)
    set('m', id, meta_of(rank, seq_s, max_s))
    if unmet > 1 then set('unmet', id, unmet - 1) end
    specs[#specs + 1] = P .. ':s:' .. id
    specs[#specs + 1] = tspec[x]
    if blocked then
      block(id, 'dependency ' .. blocked .. ' did not complete')
    elseif state == 'READY' then
      RANKS[id] = rank
    end
  end
end
pieces('MSET', nil, specs)
if seq ~= seq0 then redis.call('SET', P .. ':seq', seq) end
return added
)lua";

} // namespace orch::redis_lua
