#!/usr/bin/env python3
"""What a task's fields cost the Redis server in two layouts, measured apart
from the queue (a synthetic workload, not the TASK QUEUE's scripts).

Both layouts run the same field operations a task of the Redis queue runs
in chains in plans of 10 (bridges/redis_queue_scripts.hpp, layout 4),
without the sorted sets, counters and checks (the same in both):
  cols: the state, plan, meta ("rank seq max") and attempts of a task in a
        hash each (P:c2:st, plan, m, attempts), as layout 4 keeps them;
  rec:  the four in one field of one hash (state NUL owner NUL plan NUL
        meta NUL attempts), parsed and rebuilt in Lua.
Enqueue (read the states, write the fields, the dependency's dependents
and the spec), lease (read state, attempts and meta and the spec, write
state and attempts) and completion (read dependents, state and plan,
write state and result, read and write the dependents' state and meta)
run as scripts over batches of 500, chains of 10, against a private
redis-server on a free loopback port (stopped by its pid). Prints one JSON
line per run with the server's CPU time per task (user + system, /proc).

  /usr/bin/python3 bench/redis_layout_synthetic.py [--tasks 200000] [--reps 3]
"""
import argparse, json, os, socket, subprocess, time

def resp(*args):
    out = [b'*%d\r\n' % len(args)]
    for a in args:
        if not isinstance(a, bytes): a = str(a).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(a), a))
    return b''.join(out)

class R:
    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port)); self.f = self.s.makefile('rb')
    def call(self, *args):
        self.s.sendall(resp(*args)); return self.read()
    def read(self):
        l = self.f.readline()
        t, rest = l[:1], l[1:-2]
        if t == b'+': return rest
        if t == b'-': raise RuntimeError(rest.decode())
        if t == b':': return int(rest)
        if t == b'$':
            n = int(rest)
            if n < 0: return None
            d = self.f.read(n + 2); return d[:-2]
        if t == b'*':
            n = int(rest); return [self.read() for _ in range(n)]

COMMON = r"""
local function hmget(col, ids) if #ids == 0 then return {} end return redis.call('HMGET', col, unpack(ids)) end
local function hset(col, kv) if #kv == 0 then return end redis.call('HSET', col, unpack(kv)) end
"""
# ARGV: per task: id, plan, dep ('' none), spec
ENQ_COLS = COMMON + r"""
local ids, plans, deps, specs = {}, {}, {}, {}
for i = 1, #ARGV, 4 do local k = #ids + 1; ids[k] = ARGV[i]; plans[k] = ARGV[i+1]; deps[k] = ARGV[i+2]; specs[k] = ARGV[i+3] end
local known = hmget('c:st', ids)
local hs, hp, hm, hd, ms = {}, {}, {}, {}, {}
for k = 1, #ids do
  if not known[k] then
    local id = ids[k]
    local st = deps[k] == '' and 'READY' or 'QUEUED'
    hs[#hs+1] = id; hs[#hs+1] = st
    hp[#hp+1] = id; hp[#hp+1] = plans[k]
    hm[#hm+1] = id; hm[#hm+1] = k .. ' ' .. k .. ' 3'
    if deps[k] ~= '' then hd[#hd+1] = deps[k]; hd[#hd+1] = id end
    ms[#ms+1] = 's:' .. id; ms[#ms+1] = specs[k]
  end
end
hset('c:st', hs); hset('c:plan', hp); hset('c:m', hm); hset('c:d', hd)
redis.call('MSET', unpack(ms))
return #hs / 2
"""
ENQ_REC = COMMON + r"""
local ids, plans, deps, specs = {}, {}, {}, {}
for i = 1, #ARGV, 4 do local k = #ids + 1; ids[k] = ARGV[i]; plans[k] = ARGV[i+1]; deps[k] = ARGV[i+2]; specs[k] = ARGV[i+3] end
local known = hmget('r', ids)
local hr, hd, ms = {}, {}, {}
for k = 1, #ids do
  if not known[k] then
    local id = ids[k]
    local st = deps[k] == '' and 'READY' or 'QUEUED'
    hr[#hr+1] = id; hr[#hr+1] = st .. '\0\0' .. plans[k] .. '\0' .. k .. ' ' .. k .. ' 3\0000'
    if deps[k] ~= '' then hd[#hd+1] = deps[k]; hd[#hd+1] = id end
    ms[#ms+1] = 's:' .. id; ms[#ms+1] = specs[k]
  end
end
hset('r', hr); hset('c:d', hd)
redis.call('MSET', unpack(ms))
return #hr / 2
"""
# ARGV: ids to lease (READY ones)
LEASE_COLS = COMMON + r"""
local ids = ARGV
local st, att, m = hmget('c:st', ids), hmget('c:attempts', ids), hmget('c:m', ids)
local keys = {}
for k = 1, #ids do keys[k] = 's:' .. ids[k] end
local specs = redis.call('MGET', unpack(keys))
local hs, ha, out = {}, {}, 0
for k = 1, #ids do
  if st[k] == 'READY' then
    hs[#hs+1] = ids[k]; hs[#hs+1] = 'IN_PROGRESS\0w1'
    ha[#ha+1] = ids[k]; ha[#ha+1] = tostring((tonumber(att[k]) or 0) + 1)
    if m[k] and specs[k] then out = out + 1 end
  end
end
hset('c:st', hs); hset('c:attempts', ha)
return out
"""
LEASE_REC = COMMON + r"""
local ids = ARGV
local r = hmget('r', ids)
local keys = {}
for k = 1, #ids do keys[k] = 's:' .. ids[k] end
local specs = redis.call('MGET', unpack(keys))
local hr, out = {}, 0
for k = 1, #ids do
  local v = r[k]
  if v then
    local st, owner, plan, meta, att = string.match(v, '^([^%z]*)%z([^%z]*)%z([^%z]*)%z([^%z]*)%z(%d*)$')
    if st == 'READY' then
      hr[#hr+1] = ids[k]; hr[#hr+1] = 'IN_PROGRESS\0w1\0' .. plan .. '\0' .. meta .. '\0' .. ((tonumber(att) or 0) + 1)
      if specs[k] then out = out + 1 end
    end
  end
end
hset('r', hr)
return out
"""
# ARGV: ids leased to w1; returns dependents made READY
DONE_COLS = COMMON + r"""
local ids = ARGV
local d, st, plan = hmget('c:d', ids), hmget('c:st', ids), hmget('c:plan', ids)
local hs, hres, deps = {}, {}, {}
for k = 1, #ids do
  if st[k] == 'IN_PROGRESS\0w1' and plan[k] then
    hs[#hs+1] = ids[k]; hs[#hs+1] = 'COMPLETED'
    hres[#hres+1] = ids[k]; hres[#hres+1] = '{"ok":true}'
    if d[k] then deps[#deps+1] = d[k] end
  end
end
hset('c:st', hs); hset('c:result', hres)
local dst, dm = hmget('c:st', deps), hmget('c:m', deps)
local hr, ready = {}, {}
for k = 1, #deps do
  if dst[k] == 'QUEUED' and dm[k] then hr[#hr+1] = deps[k]; hr[#hr+1] = 'READY'; ready[#ready+1] = deps[k] end
end
hset('c:st', hr)
return ready
"""
DONE_REC = COMMON + r"""
local ids = ARGV
local d, r = hmget('c:d', ids), hmget('r', ids)
local hw, hres, deps = {}, {}, {}
for k = 1, #ids do
  local v = r[k]
  local st, owner, rest = string.match(v or '', '^([^%z]*)%z([^%z]*)%z(.*)$')
  if st == 'IN_PROGRESS' and owner == 'w1' then
    hw[#hw+1] = ids[k]; hw[#hw+1] = 'COMPLETED\0\0' .. rest
    hres[#hres+1] = ids[k]; hres[#hres+1] = '{"ok":true}'
    if d[k] then deps[#deps+1] = d[k] end
  end
end
hset('r', hw); hset('c:result', hres)
local dr = hmget('r', deps)
local hr, ready = {}, {}
for k = 1, #deps do
  local st, owner, rest = string.match(dr[k] or '', '^([^%z]*)%z([^%z]*)%z(.*)$')
  if st == 'QUEUED' then hr[#hr+1] = deps[k]; hr[#hr+1] = 'READY\0\0' .. rest; ready[#ready+1] = deps[k] end
end
hset('r', hr)
return ready
"""

def run(layout, n, port):
    srv = subprocess.Popen(['redis-server', '--bind', '127.0.0.1', '--port', str(port), '--save', '', '--appendonly', 'no'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try: r = R(port); r.call('PING'); break
        except Exception: time.sleep(0.05)
    enq, lease, done = (ENQ_COLS, LEASE_COLS, DONE_COLS) if layout == 'cols' else (ENQ_REC, LEASE_REC, DONE_REC)
    shas = [r.call('SCRIPT', 'LOAD', s) for s in (enq, lease, done)]
    spec = b'x' * 120
    t0 = time.time()
    ready = []
    B = 500
    for base in range(0, n, B):
        args = []
        for i in range(base, min(n, base + B)):
            dep = '' if i % 10 == 0 else 't%d' % (i - 1)
            args += ['t%d' % i, 'p%d' % (i // 10), dep, spec]
            if dep == '': ready.append('t%d' % i)
        r.call('EVALSHA', shas[0], 0, *args)
    # Lease and complete until no task is READY.
    while ready:
        batch, ready = ready[:B], ready[B:]
        r.call('EVALSHA', shas[1], 0, *batch)
        newly = r.call('EVALSHA', shas[2], 0, *batch)
        ready += [x.decode() for x in newly]
    wall = time.time() - t0
    with open('/proc/%d/stat' % srv.pid) as f:
        parts = f.read().split()
    cpu = (int(parts[13]) + int(parts[14])) / os.sysconf('SC_CLK_TCK')
    # What the run left: every task stored, and COMPLETED.
    key = 'c:st' if layout == 'cols' else 'r'
    stored = r.call('HLEN', key)
    completed = r.call('EVAL', "local n = 0 for _, v in ipairs(redis.call('HVALS', KEYS[1])) do "
                       "if string.sub(v, 1, 9) == 'COMPLETED' then n = n + 1 end end return n", 1, key)
    srv.terminate(); srv.wait()
    return completed, stored, cpu * 1e6 / n, wall

def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tasks', type=int, default=200000)
    ap.add_argument('--reps', type=int, default=3)
    a = ap.parse_args()
    for rep in range(a.reps):
        for layout in ('cols', 'rec'):
            done, stored, us, wall = run(layout, a.tasks, free_port())
            print(json.dumps({'bench': 'redis_layout_synthetic', 'layout': layout,
                              'tasks': a.tasks, 'completed': done, 'stored': stored,
                              'wall_s': round(wall, 3),
                              'server_cpu_us_per_task': round(us, 2)}), flush=True)
