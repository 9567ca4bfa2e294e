#pragma once

// The Redis TASK QUEUE's retention: finished tasks (COMPLETED, FAILED,
// BLOCKED, CANCELLED) leave Redis after `retain_ms` or past `retain_max`,
// oldest first, as they leave the memory queue (task_queue_settings), and
// the latest `tombstones_max` of them stay as tombstones, so that an
// enqueue again adds nothing and a dependency on one resolves. Built on the
// prelude (redis_queue_prelude.hpp) and the transitions
// (redis_queue_transitions.hpp); every script has it after them. The
// limits come first in every script's text, as RETAIN_MS, RETAIN_MAX and
// TOMBSTONES_MAX (retention_config), so that scripts without retention
// (both 0) do none of it.
//
// Keys (P = the configured prefix), since layout 6:
//   P:fin6     list: the finished tasks still kept, in the order they
//              finished, "<id>\0<ms>" (its finish time); appended to,
//              and taken from the front
//   P:gone6    hash: the tombstones, id -> 1 when it COMPLETED, 0
//              otherwise (and the entry KEEP under '', as the columns)
//   P:goneq    list: the ids of the tombstones, oldest first
// Layout 5 kept the two in zsets (P:fin and P:gone, scored by a count of
// their own): each insert walked a skip list (a few cache misses per
// level), ~3.5 and ~4 µs of the server per task (tombstones: with their
// look-up at enqueue). Layout 6's first script moves them
// (redis_queue_migrations.hpp).
//   P:res      hash: plan -> its tasks kept (enqueued and not left yet);
//              when it falls to 0 the plan leaves: its set P:p:<plan>
//              (which keeps the ids of its tasks that left until then: an
//              SREM per plan per batch cost a command each) and its P:pg
//              fields go
//   P:pg       hash: "<plan>\0<state>" -> the plan's tasks that left in
//              that state: a plan counts them while any of its tasks is
//              kept (as the memory queue's plan does), and forgets them
//              with its last one
//   P:c2:deps  column: a task's dependencies, ids joined by NUL, which
//              the scripts before this version wrote with retention on;
//              now read for a task that leaves BLOCKED or CANCELLED and
//              cleared (a task's dependencies are in its spec)

#include <cstddef>
#include <cstdint>
#include <string>

namespace orch::redis_lua {

/// The first line of every script: the limits of retention.
inline std::string retention_config(int64_t retain_ms, size_t retain_max,
                                    size_t tombstones_max) {
  return "local RETAIN_MS, RETAIN_MAX, TOMBSTONES_MAX = "
         + std::to_string(retain_ms) + ", " + std::to_string(retain_max)
         + ", " + std::to_string(tombstones_max) + "\n";
}

/// Shared functions, after `transitions` in every script.
constexpr const char* retention = R"lua(
local RETAIN = RETAIN_MS > 0 or RETAIN_MAX > 0
local FIN, GONE, GONE_Q = P .. ':fin6', P .. ':gone6', P .. ':goneq'
local FINAL = {'COMPLETED', 'FAILED', 'BLOCKED', 'CANCELLED'}
-- Tasks finished by this script, in order; written by flush_finished.
local FIN_NEW, FIN_N = {}, 0
note_finish = function(id)
  if not RETAIN then return end
  FIN_N = FIN_N + 1
  FIN_NEW[FIN_N] = id .. '\0' .. ARGV[2]
end
-- Tasks kept by plan, gathered for flush_kept.
local KEPT = {}
kept = function(plan, n)
  if not RETAIN or n == 0 then return end
  KEPT[plan] = (KEPT[plan] or 0) + n
end
-- Adds KEPT to P:res; returns the plans that have none kept now.
local function flush_kept()
  local add, plans = KEPT, {}
  KEPT = {}
  for plan, d in pairs(add) do
    if d ~= 0 then plans[#plans + 1] = plan end
  end
  return hash_add(P .. ':res', plans, add, function(v) return v > 0 end)
end
local function flush_finished()
  if FIN_N == 0 then return end
  pieces('RPUSH', FIN, FIN_NEW)
  FIN_NEW, FIN_N = {}, 0
end
-- The tombstones of ids, by id: 1 (it COMPLETED) or 0; none when
-- retention is off.
local function tombstones(ids)
  local out = {}
  if not RETAIN or #ids == 0 then return out end
  local v = pieces('HMGET', GONE, ids)
  for k, id in ipairs(ids) do
    if v[k] then out[id] = v[k] == '1' and 1 or 0 end
  end
  return out
end
-- Takes the tasks that leave out of their dependencies' lists: pairs_ is
-- dependency, id, ...; each id leaves what column d holds for a dependency
-- kept (its dependents) and what column w holds for one not enqueued yet
-- (those waiting for it), so that a task of the same id enqueued later
-- (after its tombstone went) is not taken for a dependent of either.
local function leave_dependents(pairs_)
  if #pairs_ == 0 then return end
  -- Each dependency once, with all the ids that leave it.
  local drop, order = {}, {}
  for k = 1, #pairs_, 2 do
    local d = pairs_[k]
    if not drop[d] then
      drop[d] = {}
      order[#order + 1] = d
    end
    drop[d][pairs_[k + 1]] = true
  end
  for _, f in ipairs({'d', 'w'}) do
    -- w holds only its own entry unless a task waits (usually none).
    local now = {}
    if f == 'd' or redis.call('HLEN', col('w')) > 1 then now = column(f, order) end
    local keep_, gone = {}, {}
    for k, d in ipairs(order) do
      if now[k] then
        local keep = {}
        for _, x in ipairs(split_ids(now[k])) do
          if not drop[d][x] then keep[#keep + 1] = x end
        end
        if #keep > 0 then
          keep_[#keep_ + 1] = d
          keep_[#keep_ + 1] = table.concat(keep, '\0')
        else
          gone[#gone + 1] = d
        end
      end
    end
    write_column(f, keep_, gone)
  end
end
-- The dependencies of the tasks `ids` (BLOCKED or CANCELLED ones), from
-- their specs (msgpack maps, specs[k] of ids[k]), as dependency, id pairs
-- appended to out. Tasks enqueued by the scripts before this version also
-- named them in the column deps, read while it holds any.
local function dependencies_of(ids, specs, out)
  if #ids == 0 then return end
  for k, id in ipairs(ids) do
    local ok, t = pcall(cmsgpack.unpack, specs[k] or '')
    if ok and type(t) == 'table' and type(t.dependencies) == 'table' then
      for _, d in ipairs(t.dependencies) do
        out[#out + 1] = d
        out[#out + 1] = id
      end
    end
  end
  if redis.call('HLEN', col('deps')) > 1 then
    local v = column('deps', ids)
    for k, id in ipairs(ids) do
      for _, d in ipairs(split_ids(v[k] or '')) do
        out[#out + 1] = d
        out[#out + 1] = id
      end
    end
  end
end
-- Finished tasks ids leave: their fields and specs; their tombstones stay
-- (the latest TOMBSTONES_MAX), and their plans count them until the
-- plan's last task leaves (then the plan goes: its set, its counts).
-- Only a task that never ran (BLOCKED, CANCELLED) leaves its
-- dependencies' lists (leave_dependents): one that COMPLETED or FAILED was
-- leased, so each of its dependencies COMPLETED before it, finished before
-- it and leaves before it or with it (or finished before retention was
-- on: then it is final and its dependents are never read again).
local function forget(ids)
  local recs = column(TASK, ids)
  -- tomb: id, bit pairs for GONE; gone: the ids for GONE_Q; unrun and
  -- unrun_keys: the BLOCKED or CANCELLED ones and their specs' keys.
  local tomb, gone, specs = {}, {}, {}
  local leaving, unrun, unrun_keys = {}, {}, {}
  local plans, order = {}, {}
  for k, id in ipairs(ids) do
    local v = recs[k]
    local s, pl, at = nil, nil, nil
    if v then s, pl, at = string.match(v, '^(%S+) %d+ %S+ %S+ %S+ (%d+):()') end
    if s then
      local plan = string.sub(v, at, at + tonumber(pl) - 1)
      local key = P .. ':s:' .. id
      gone[#gone + 1] = id
      tomb[#tomb + 1] = id
      tomb[#tomb + 1] = s == 'COMPLETED' and '1' or '0'
      specs[#specs + 1] = key
      leaving[id] = true
      if s == 'BLOCKED' or s == 'CANCELLED' then
        unrun[#unrun + 1] = id
        unrun_keys[#unrun_keys + 1] = key
      end
      local n = plans[plan]
      if not n then
        n = {}
        plans[plan] = n
        order[#order + 1] = plan
      end
      n[s] = (n[s] or 0) + 1
    end
  end
  local leave = {}
  if #unrun > 0 then
    local pairs_ = {}
    dependencies_of(unrun, (pieces('MGET', nil, unrun_keys)), pairs_)
    -- A dependency that leaves with them leaves its lists whole.
    for k = 1, #pairs_, 2 do
      if not leaving[pairs_[k]] then
        leave[#leave + 1] = pairs_[k]
        leave[#leave + 1] = pairs_[k + 1]
      end
    end
  end
  for _, plan in ipairs(order) do
    local m = 0
    for s, c in pairs(plans[plan]) do
      count_runs(nil, s, nil, c)
      m = m + c
    end
    kept(plan, -m)
  end
  for _, f in ipairs({TASK, 'd', 'deps', 'unmet', 'nb', 'result', 'error'}) do
    clear_if_used(f, ids)
  end
  pieces('DEL', nil, specs)
  if #gone > 0 then
    tomb[#tomb + 1] = ''
    tomb[#tomb + 1] = KEEP
    pieces('HSET', GONE, tomb)
    pieces('RPUSH', GONE_Q, gone)
  end
  if TOMBSTONES_MAX > 0 then
    local over = redis.call('LLEN', GONE_Q) - TOMBSTONES_MAX
    if over > 0 then
      pieces('HDEL', GONE, redis.call('LPOP', GONE_Q, over))
    end
  end
  -- A plan with none kept leaves; the others count what left, by state.
  -- (Not while any task of it is open: one enqueued before retention was
  -- on is in no count of P:res.)
  flush_counts()
  local left, maybe = {}, flush_kept()
  if #maybe > 0 then
    local open = pieces('HMGET', OPEN_KEY, maybe)
    for k, plan in ipairs(maybe) do
      if (tonumber(open[k]) or 0) <= 0 then left[plan] = true end
    end
  end
  local sets, dels, fields, adds = {}, {}, {}, {}
  -- (A field's name is built only where it is used: a batch of chains
  -- finishes a task of as many plans as tasks.)
  for _, plan in ipairs(order) do
    if left[plan] then
      for _, s in ipairs(FINAL) do dels[#dels + 1] = plan .. '\0' .. s end
      sets[#sets + 1] = P .. ':p:' .. plan
    else
      for s, c in pairs(plans[plan]) do
        local f = plan .. '\0' .. s
        fields[#fields + 1] = f
        adds[f] = c
      end
    end
  end
  pieces('DEL', nil, sets)
  pieces('HDEL', P .. ':pg', dels)
  hash_add(P .. ':pg', fields, adds, nonzero)
  leave_dependents(leave)
  -- Nothing cached of the tasks that left may be written back.
  CACHE, SPECS = {}, {}
end
-- Finished tasks past the limits leave, oldest first; run by the scripts
-- that complete or fail tasks (PURGE), at their end.
local function purge()
  if not RETAIN then return end
  flush_columns()
  flush_batches()
  flush_finished()
  flush_counts()
  local n = redis.call('LLEN', FIN)
  local ids, m = {}, 0
  -- Those past RETAIN_MAX, in one read; then, by RETAIN_MS, those due.
  if RETAIN_MAX > 0 and n > RETAIN_MAX then
    for _, x in ipairs(redis.call('LRANGE', FIN, 0, n - RETAIN_MAX - 1)) do
      m = m + 1
      ids[m] = string.sub(x, 1, string.find(x, '\0', 1, true) - 1)
    end
  end
  local at = m
  while RETAIN_MS > 0 and at < n do
    local xs = redis.call('LRANGE', FIN, at, at + 99)
    local stop = #xs < 100
    for _, x in ipairs(xs) do
      local z = string.find(x, '\0', 1, true)
      if tonumber(string.sub(x, z + 1)) + RETAIN_MS > NOW then
        stop = true
        break
      end
      m = m + 1
      ids[m] = string.sub(x, 1, z - 1)
    end
    if stop then break end
    at = at + 100
  end
  if m == 0 then return end
  redis.call('LTRIM', FIN, m, -1)
  forget(ids)
end
-- The counts of a plan's tasks that left, by state (while any is kept).
local function gone_counts(plan)
  local out = {}
  if not RETAIN then return out end
  local fields = {}
  for _, s in ipairs(FINAL) do fields[#fields + 1] = plan .. '\0' .. s end
  local v = redis.call('HMGET', P .. ':pg', unpack(fields))
  for k, s in ipairs(FINAL) do
    if v[k] then out[s] = tonumber(v[k]) end
  end
  return out
end
)lua";

} // namespace orch::redis_lua
