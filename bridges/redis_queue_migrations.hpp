#pragma once

// The moves of the Redis TASK QUEUE from the layouts before into the one the
// scripts use (redis_queue_scripts.hpp), run at the start of every script
// after the prelude (redis_queue_prelude.hpp), whose helpers they use. Each
// moves everything in one script, so that no script sees two layouts.

namespace orch::redis_lua {

/// Run after `prelude`, before a script's body.
constexpr const char* migrations = R"lua(
-- Every key P .. infix .. '*', found by SCAN (for a move that runs once).
local function keys_like(infix)
  local pattern = string.gsub(P, '[%*%?%[%]\\]', '\\%0') .. infix .. '*'
  local keys, cursor = {}, '0'
  repeat
    local r = redis.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = r[1]
    for _, key in ipairs(r[2]) do keys[#keys + 1] = key end
  until cursor == '0'
  return keys
end
-- The ids and values of a column (hash) key, without its own entry (KEEP,
-- under the id '').
local function entries(key)
  local h = redis.call('HGETALL', key)
  local ids, vals = {}, {}
  for k = 1, #h, 2 do
    if h[k] ~= '' then
      ids[#ids + 1] = h[k]
      vals[#vals + 1] = h[k + 1]
    end
  end
  return ids, vals
end
-- Moves a hash or zset; merges it into one there already.
local function move(src, dst, zset)
  if redis.call('EXISTS', src) == 0 then return end
  if redis.call('EXISTS', dst) == 0 then
    redis.call('RENAME', src, dst)
    return
  end
  if zset then
    local xs = redis.call('ZRANGE', src, 0, -1, 'WITHSCORES')
    local args = {}
    for k = 1, #xs, 2 do
      args[#args + 1] = xs[k + 1]
      args[#args + 1] = xs[k]
    end
    pieces('ZADD', dst, args)
  else
    pieces('HSET', dst, redis.call('HGETALL', src))
  end
  redis.call('DEL', src)
end
-- Layouts 0 and 1 kept the tasks waiting for a task not yet enqueued in a
-- set P:w:<id>; layout 2 in the column w. Found by SCAN (one time).
local function migrate_waiting()
  local keys = keys_like(':w:')
  local w = {}
  for _, key in ipairs(keys) do
    local ids = redis.call('SMEMBERS', key)
    if #ids > 0 then
      w[#w + 1] = string.sub(key, #P + 4)
      w[#w + 1] = table.concat(ids, '\0')
    end
  end
  write_column('w', w)
  pieces('DEL', nil, keys)
end
-- The zset of tasks backing off that layouts before `layout` kept at key
-- old: moved into BACKOFF, and a string left there, on which their
-- promote (a script's first read of it) fails.
local function retire_backoff(old, layout)
  local t = redis.call('TYPE', old)['ok']
  if t == 'zset' then move(old, BACKOFF, true) end
  if t ~= 'string' then
    redis.call('SET', old, 'the task queue moved to layout ' .. layout
               .. ' (tasks backing off in ' .. BACKOFF .. '): this replica '
               .. 'is too old')
  end
end
-- Layout 1: columns P:c:<field> with seq, max and prio each a column of its
-- own, the dependents of a task in a set P:d:<id> (and those waiting for a
-- task not yet enqueued in P:w:<id>), and the zsets P:ready,
-- P:leases and P:backoff. Layout 2 keeps the columns under P:c2:, the three
-- in the column m, the dependents in the column d, only the unmet
-- dependencies beyond the first in the column unmet, and the zsets under
-- READY, LEASES and BACKOFF. The column 'lease' of layout 1 goes: only the
-- version before layout 1 wrote it, and LEASES holds every lease's end.
local function migrate_columns()
  local function old(f) return P .. ':c:' .. f end
  local ids, seq_s = entries(old('seq'))
  local prio = (pieces('HMGET', old('prio'), ids))
  local max = (pieces('HMGET', old('max'), ids))
  local m, d, gone = {}, {}, {}
  for k, id in ipairs(ids) do
    local s = seq_s[k]
    m[#m + 1] = id
    m[#m + 1] = meta_of(ready_score(tonumber(prio[k]) or 0, tonumber(s), s),
                        s, max[k] or '0')
    local key = P .. ':d:' .. id
    local ds = redis.call('SMEMBERS', key)
    if #ds > 0 then
      d[#d + 1] = id
      d[#d + 1] = table.concat(ds, '\0')
      gone[#gone + 1] = key
    end
  end
  for _, f in ipairs({'state', 'plan', 'attempts', 'owner', 'nb', 'result',
                      'error'}) do
    move(old(f), col(f), false)
  end
  local unmet, more = redis.call('HGETALL', old('unmet')), {}
  for k = 1, #unmet, 2 do
    local u = tonumber(unmet[k + 1]) or 0
    if unmet[k] ~= '' and u > 1 then
      more[#more + 1] = unmet[k]
      more[#more + 1] = num_s(u - 1)
    end
  end
  write_column('unmet', more)
  write_column('m', m)
  write_column('d', d)
  pieces('DEL', nil, gone)
  redis.call('DEL', old('seq'), old('max'), old('prio'), old('lease'),
             old('unmet'))
  move(P .. ':ready', READY, true)
  move(P .. ':leases', LEASES, true)
  move(P .. ':backoff', BACKOFF, true)
  migrate_waiting()
end
-- Layout 0: a hash per task, the zset P:all and the zsets P:r, P:l and P:b.
local function migrate_hashes()
  local fields = {'state', 'plan', 'prio', 'seq', 'max', 'attempts', 'unmet',
                  'owner', 'nb', 'result', 'error'}
  local kept = {state = true, plan = true, attempts = true, unmet = true,
                owner = true, nb = true, result = true, error = true}
  -- A task the columns know already was enqueued again by a replica of
  -- layout 0 (it no longer finds P:all): the columns' record stays, the
  -- hash goes, and the count that replica added is taken back.
  local moved = {}
  for _, id in ipairs(redis.call('ZRANGE', P .. ':all', 0, -1)) do
    local key = P .. ':t:' .. id
    local h = redis.call('HMGET', key, 'spec', unpack(fields))
    if h[2] and get('state', id) ~= '' then
      count_move(h[3] or '', h[2], nil)
      redis.call('DEL', key)
    elseif h[2] then
      moved[id] = true
      for k, f in ipairs(fields) do
        local v = h[k + 1]
        if f == 'unmet' then
          local u = tonumber(v) or 0
          if u > 1 then set(f, id, u - 1) end
        elseif kept[f] and v and v ~= '' and v ~= '0' then
          set(f, id, convert(f, v), v)
        end
      end
      local s = h[5] or '0'
      set('m', id, meta_of(ready_score(tonumber(h[4]) or 0, tonumber(s), s),
                           s, h[6] or '0'))
      add_dependents(id, redis.call('SMEMBERS', P .. ':d:' .. id))
      redis.call('DEL', P .. ':d:' .. id)
      if h[1] then redis.call('SET', P .. ':s:' .. id, h[1]) end
      redis.call('DEL', key)
    end
  end
  flush_columns()
  flush_counts()
  for old, new in pairs({r = READY, l = LEASES, b = BACKOFF}) do
    local xs = redis.call('ZRANGE', P .. ':' .. old, 0, -1, 'WITHSCORES')
    local args = {}
    for k = 1, #xs, 2 do
      if moved[xs[k]] then
        args[#args + 1] = xs[k + 1]
        args[#args + 1] = xs[k]
      end
    end
    pieces('ZADD', new, args)
    redis.call('DEL', P .. ':' .. old)
  end
  redis.call('DEL', P .. ':all')
  migrate_waiting()
end
-- P:c:state, layout 1's column of states, held a string from the first
-- script of layout 2 on, and holds layout 6's mark from the first script
-- of layout 6 on (a hash with the field LAYOUT6, below): every script of
-- layout 1 reads that key before it writes anything (or, for a lease,
-- finds its zsets empty first), and failed on the string; on the mark it
-- finds no task, and its enqueue fails writing P:c:seq (a string), after
-- writing only keys of layout 1 that no script reads any more. A replica
-- of layout 1 during a rolling update then answers errors instead of
-- writing a task half in each layout; a task it had leased comes back
-- when its lease ends.
local LAYOUT6 = '\0layout 6'
local MARKED6 = false
do
  local t = redis.call('TYPE', P .. ':c:state')['ok']
  MARKED6 = t == 'hash' and redis.call('HEXISTS', P .. ':c:state', LAYOUT6) == 1
  if t == 'hash' and not MARKED6 then migrate_columns() end
end
-- Layout 4's value of a task's state and owner in the column st: a leased
-- task's is "IN_PROGRESS\0<owner>", any other's its state's name.
local function leased_to(worker)
  return 'IN_PROGRESS\0' .. worker
end
-- Layouts 2 and 3 kept a task's state and owner in columns of their own
-- (P:c2:state, P:c2:owner) and the tasks backing off in P:backoff2;
-- layout 4 keeps the two in the column st (a leased task's state with its
-- owner: leased_to) and those tasks in BACKOFF.
local function migrate_states()
  local ids, sts = entries(col('state'))
  local own = (pieces('HMGET', col('owner'), ids))
  local st = {}
  for k, id in ipairs(ids) do
    local v = sts[k]
    if v == 'IN_PROGRESS' and own[k] and own[k] ~= '' then
      v = leased_to(own[k])
    end
    st[#st + 1] = id
    st[#st + 1] = v
  end
  write_column('st', st)
  redis.call('DEL', col('state'), col('owner'))
end
-- Layouts 0 to 3 kept a plan's counts in a hash of its own, P:pc:<plan>:
-- by state (QUEUED, READY, IN_PROGRESS, ...) before layout 3, which added
-- the field OPEN beside those left; layout 4 keeps every plan's open tasks
-- in one hash, P:open. Found by SCAN (one time).
local function migrate_plan_counts()
  local keys = keys_like(':pc:')
  local open = {}
  for _, key in ipairs(keys) do
    local h = redis.call('HMGET', key, 'OPEN', 'QUEUED', 'READY',
                         'IN_PROGRESS')
    local n = (tonumber(h[1]) or 0) + (tonumber(h[2]) or 0)
              + (tonumber(h[3]) or 0) + (tonumber(h[4]) or 0)
    open[#open + 1] = string.sub(key, #P + 5)
    open[#open + 1] = num_s(n)
  end
  pieces('HSET', OPEN_KEY, open)
  pieces('DEL', nil, keys)
end
-- P:c2:state and P:backoff2 hold these strings from the first script of
-- layout 4 on. Every script of layout 3 reads P:c2:state (or, where it
-- first promotes, P:backoff2) before it writes anything, and fails on
-- them: such a replica during a rolling update answers errors instead of
-- reading columns that no longer change (it would take every task for
-- one not enqueued yet).
do
  local t = redis.call('TYPE', col('state'))['ok']
  if t == 'hash' then migrate_states() end
  if t ~= 'string' then
    migrate_plan_counts()
    redis.call('SET', col('state'), 'the task queue moved to layout 4 '
               .. '(states and owners in ' .. col('st') .. '): this replica '
               .. 'is too old')
  end
  retire_backoff(P .. ':backoff2', 4)
end
-- Layout 4 kept a task's state with its owner (the column st, see
-- leased_to), its attempts, m and plan in four columns, and the tasks
-- backing off in P:backoff4; layout 5 keeps the four in its record (the
-- column task, see rec_of) and those tasks in BACKOFF.
local function migrate_records()
  local ids, sts = entries(col('st'))
  local att = (pieces('HMGET', col('attempts'), ids))
  local m = (pieces('HMGET', col('m'), ids))
  local plan = (pieces('HMGET', col('plan'), ids))
  local recs = {}
  for k, id in ipairs(ids) do
    local s, o = sts[k], ''
    local z = string.find(s, '\0', 1, true)
    if z then s, o = string.sub(s, 1, z - 1), string.sub(s, z + 1) end
    if s ~= 'IN_PROGRESS' then o = '' end
    local mk = m[k]
    if not mk or not string.find(mk, '^%S+ %S+ %S+$') then mk = '0 0 0' end
    recs[#recs + 1] = id
    recs[#recs + 1] = rec_of(s, num_s(tonumber(att[k]) or 0), mk,
                             plan[k] or '', o)
  end
  write_column(TASK, recs)
  redis.call('DEL', col('st'), col('attempts'), col('m'), col('plan'))
end
-- P:c2:st and P:backoff4 hold these strings from the first script of
-- layout 5 on. Every script of layout 4 reads P:c2:st (or, where it first
-- promotes, P:backoff4) before it writes anything, and fails on them: such
-- a replica during a rolling update answers errors instead of reading
-- columns that no longer change (it would take every task for one not
-- enqueued yet). Runs after layout 4's move, whose column st it reads.
do
  local t = redis.call('TYPE', col('st'))['ok']
  if t == 'hash' then migrate_records() end
  if t ~= 'string' then
    redis.call('SET', col('st'), 'the task queue moved to layout 5 '
               .. '(records in ' .. col(TASK) .. '): this replica is too old')
  end
  retire_backoff(P .. ':backoff4', 5)
end
-- P:all, layout 0's zset of every task, holds this string from the first
-- script of layout 3 on, which counts only the open tasks of a plan (in
-- the field OPEN). Every script of layout 2 asks whether P:all exists
-- before it writes anything and then reads it as a zset, to move layout
-- 0's tasks: that fails on a string, and so does layout 0's enqueue, which
-- looks its ids up in P:all first. A replica of those layouts during a
-- rolling update answers errors instead of reading a plan's counts by
-- state, which layout 3 no longer keeps (it would see plans done that
-- are not).
do
  local t = redis.call('TYPE', P .. ':all')['ok']
  if t == 'zset' then migrate_hashes() end
  if t ~= 'string' then
    redis.call('SET', P .. ':all', 'the task queue moved to layout 3 '
               .. '(open tasks of a plan counted in ' .. P
               .. ':pc:<plan> OPEN): this replica is too old')
  end
end
-- Layout 5 kept retention's finished tasks and tombstones in zsets (P:fin,
-- scored by P:finseq's count; P:gone, by 2 * P:goneseq's count + 1 for a
-- task that COMPLETED); layout 6 in lists and a hash (FIN, GONE, GONE_Q:
-- redis_queue_retention.hpp), in the same order.
local function migrate_retention()
  local old_fin, old_gone = P .. ':fin', P .. ':gone'
  if redis.call('TYPE', old_fin)['ok'] == 'zset' then
    local n = redis.call('ZCARD', old_fin)
    for a = 0, n - 1, 1000 do
      pieces('RPUSH', FIN, redis.call('ZRANGE', old_fin, a, a + 999))
    end
  end
  if redis.call('TYPE', old_gone)['ok'] == 'zset' then
    local n = redis.call('ZCARD', old_gone)
    redis.call('HSET', GONE, '', KEEP)
    for a = 0, n - 1, 1000 do
      local xs = redis.call('ZRANGE', old_gone, a, a + 999, 'WITHSCORES')
      local h, q = {}, {}
      for k = 1, #xs, 2 do
        q[#q + 1] = xs[k]
        h[#h + 1] = xs[k]
        h[#h + 1] = tonumber(xs[k + 1]) % 2 == 1 and '1' or '0'
      end
      pieces('HSET', GONE, h)
      pieces('RPUSH', GONE_Q, q)
    end
  end
  redis.call('DEL', old_fin, P .. ':finseq', old_gone, P .. ':goneseq')
end
-- Layout 6's mark: P:c:state a hash with the field LAYOUT6 (no task's id:
-- ids hold no NUL) and P:c:seq a string. Every script of layout 5 (and
-- of layouts 2 to 4) takes a hash at P:c:state for layout 1's columns and
-- first reads P:c:seq as a hash (migrate_columns: entries), which fails
-- before it writes anything: such a replica during a rolling update
-- answers errors instead of noting finished tasks and tombstones where
-- this one no longer reads them (it would enqueue again a task that left).
if not MARKED6 then
  migrate_retention()
  local why = 'the task queue moved to layout 6 (finished tasks in '
              .. FIN .. ', tombstones in ' .. GONE .. '): this replica is too old'
  redis.call('DEL', P .. ':c:state')
  redis.call('HSET', P .. ':c:state', LAYOUT6, why)
  redis.call('SET', P .. ':c:seq', why)
end
)lua";

} // namespace orch::redis_lua
