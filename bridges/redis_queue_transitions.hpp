#pragma once

// The transitions of one task in the Redis TASK QUEUE's Lua scripts: its
// record as the scripts return it, the members a script adds to or takes
// from the sets, and ready, block, retry, promote, complete; built on the
// columns and counts of `prelude` (redis_queue_prelude.hpp), after which
// every script has them.

#include "bridges/redis_queue_prelude.hpp"

namespace orch::redis_lua {

/// Shared functions, after `prelude` in every script.
constexpr const char* transitions = R"lua(
-- The fields a record holds besides the spec and the lease.
local RECORD = {'state', 'attempts', 'm', 'owner', 'nb', 'result', 'error'}
local function preload_records(ids)
  for _, f in ipairs(RECORD) do preload(f, ids) end
  preload_specs(ids)
end
-- When the lease of id ends (0: not leased): its score in LEASES, which
-- every lease and extension writes.
local function lease_of(id)
  if get('state', id) ~= 'IN_PROGRESS' then return 0 end
  return tonumber(redis.call('ZSCORE', LEASES, id)) or 0
end
-- Appends the record of id to out: id, spec, state, attempts, max, owner,
-- lease, nb, seq, result, error.
local function add_record(out, id)
  preload_specs({id})
  local _, seq, max = meta(id)
  local n = #out
  out[n + 1] = id
  out[n + 2] = SPECS[id]
  out[n + 3] = get('state', id)
  out[n + 4] = get('attempts', id)
  out[n + 5] = max
  out[n + 6] = get('owner', id)
  out[n + 7] = lease_of(id)
  out[n + 8] = get('nb', id)
  out[n + 9] = seq
  out[n + 10] = get('result', id)
  out[n + 11] = get('error', id)
  return out
end
local function record(id)
  return add_record({}, id)
end
-- Members added to or removed from a set by a script are gathered here and
-- written once per set at the script's end (flush_batches), so a batch of
-- tasks costs a few ZADD, SADD and ZREM, not one each per task. READY
-- scores wait in RANKS, from which a task blocked or cancelled in the same
-- script leaves again; a script flushes before it reads READY.
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
  local r, n = {}, 0
  for id, score in pairs(RANKS) do
    r[n + 1] = score
    r[n + 2] = id
    n = n + 2
  end
  RANKS = {}
  if n > 0 then
    redis.call('ZADD', READY, 'inf', ZKEEP)
    pieces('ZADD', READY, r)
  end
  for _, b in ipairs(BATCH_ORDER) do pieces(b[1], b[2], b[3]) end
  BATCHES, BATCH_ORDER = {}, {}
end
-- Out of the ready set, also when it was made READY earlier in this script.
local function unready(id)
  RANKS[id] = nil
  redis.call('ZREM', READY, id)
end
local IS_FINAL = {COMPLETED = true, FAILED = true, BLOCKED = true,
                  CANCELLED = true}
local function setstate(id, st)
  local from, plan = get('state', id), nil
  -- The plan only counts a task that opens or closes.
  if (IS_OPEN[from] or false) ~= (IS_OPEN[st] or false) then
    plan = get('plan', id)
  end
  count_move(plan, from, st)
  set('state', id, st)
  -- A task finishes once (a BLOCKED task cancelled stays finished since
  -- it was blocked).
  if IS_FINAL[st] and not IS_FINAL[from] then note_finish(id) end
end
-- Whether the plan has no open task (QUEUED, READY, IN_PROGRESS).
local function plan_done(plan)
  return plan_open(plan) == 0
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
  RANKS[id] = (meta(id))
end
local function block(id, why)
  flush_batches() -- READY, left below
  local todo = {{id, why}}
  while #todo > 0 do
    local item = table.remove(todo)
    local x, w = item[1], item[2]
    local st = get('state', x)
    if st == 'QUEUED' or st == 'READY' then
      unready(x)
      redis.call('ZREM', BACKOFF, x)
      setstate(x, 'BLOCKED')
      set('error', x, w)
      for _, d in ipairs(dependents_of(x)) do
        table.insert(todo, {d, 'dependency ' .. x .. ' is blocked: ' .. w})
      end
    end
  end
end
local function retry_or_fail(id, why, base, maxb)
  local attempts = get('attempts', id)
  set('owner', id, '')
  set('error', id, why)
  local _, _, max = meta(id)
  if attempts >= max then
    setstate(id, 'FAILED')
    for _, d in ipairs(dependents_of(id)) do
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
  redis.call('ZADD', BACKOFF, NOW + delay, id)
end
local function promote(base, maxb)
  local due = redis.call('ZRANGEBYSCORE', BACKOFF, '-inf', NOW)
  if #due > 0 then
    pieces('ZREM', BACKOFF, due)
    for _, id in ipairs(due) do
      if get('state', id) == 'QUEUED' then ready(id) end
    end
  end
  local expired = redis.call('ZRANGEBYSCORE', LEASES, '-inf', NOW)
  if #expired > 0 then
    pieces('ZREM', LEASES, expired)
    for _, id in ipairs(expired) do
      if get('state', id) == 'IN_PROGRESS' then
        -- Counts an attempt; back to READY at once (no backoff).
        retry_or_fail(id, 'lease of ' .. get('owner', id) .. ' expired', 0, 0)
      end
    end
  end
end
-- nil when task id, in state st ('' or false: no task) and leased to
-- owner, is leased to worker; else why not, as an error's text.
local function not_leased(id, st, owner, worker)
  if not st or st == '' then return 'not_found: no task ' .. id end
  if st ~= 'IN_PROGRESS' or owner ~= worker then
    local by = ''
    if owner ~= '' then by = ' (leased to ' .. owner .. ')' end
    return 'invalid_argument: task ' .. id .. ' is ' .. st .. by
           .. ', not leased to ' .. worker
  end
  return nil
end
-- nil when id is leased to worker, else the error.
local function owned(id, worker)
  local st = get('state', id)
  local why = not_leased(id, st, st ~= '' and get('owner', id) or '', worker)
  if why then return redis.error_reply(why) end
  return nil
end
-- Completes id leased to worker with result and records the events in
-- ARGV[first..last]; nil, or the error reply. `no_dependents`: known that
-- no task depends on id.
local function complete_one(id, worker, result, first, last, no_dependents)
  local err = owned(id, worker)
  if err then return err end
  batch('ZREM', LEASES, id)
  setstate(id, 'COMPLETED')
  set('result', id, result)
  set('error', id, '')
  set('owner', id, '')
  if not no_dependents then
    local dependents = dependents_of(id)
    for _, f in ipairs({'state', 'unmet', 'nb', 'm'}) do
      preload(f, dependents)
    end
    for _, d in ipairs(dependents) do
      if get('state', d) == 'QUEUED' then
        -- The column holds its unmet dependencies beyond the first.
        local more = get('unmet', d)
        if more > 0 then
          set('unmet', d, more - 1)
        elseif get('nb', d) == 0 then
          ready(d)
        end
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
  local seq = {}
  for _, id in ipairs(keep) do seq[id] = select(2, meta(id)) end
  table.sort(keep, function(a, b) return seq[a] < seq[b] end)
  local out = {}
  for _, id in ipairs(keep) do add_record(out, id) end
  return out
end
)lua";

} // namespace orch::redis_lua
