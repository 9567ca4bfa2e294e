#!/usr/bin/python3
"""The engine workload of `deliberation --mode engine`, re-created in plain
Python asyncio as the service we replace would run it, for comparing on the
same machine: N agents that answer at once with a short text made from the
task, R rounds of ring critique and revision, three trivial checks per
proposal (a substring test, a rule on length, a hash), ranking, a rule-based
architect picking the best, and a bounded result store; C deliberations in
flight. Prints one JSON line like `deliberation` does.

    /usr/bin/python3 bench/python_engine.py [--agents 3] [--rounds 1]
        [--concurrency 64] [--deliberations 200000] [--warmup 2000]
        [--calls gather|await]
"""

import argparse
import asyncio
import hashlib
import json
import time
from collections import OrderedDict


class Agent:
    def __init__(self, agent_id):
        self.agent_id = agent_id

    async def generate(self, task):
        return {"author": self.agent_id,
                "content": f"{self.agent_id}: solution for {task['id']}",
                "revisions": []}

    async def critique(self, task, proposal, rnd):
        return {"critic": self.agent_id, "target": proposal["author"],
                "round": rnd, "content": f"{self.agent_id}: looks right"}

    async def revise(self, task, own, feedback):
        return {"author": own["author"],
                "content": own["content"] + " (revised)",
                "revisions": own["revisions"] + [own["content"]]}


def checks(task, proposal):
    content = proposal["content"]
    passed = [task["id"] in content,
              0 < len(content) <= 4096,
              int(hashlib.blake2b(content.encode(), digest_size=8)
                  .hexdigest(), 16) % 1000 != 999]
    return {"passed": passed, "score": sum(passed) / len(passed)}


async def in_turn(*calls):
    """Awaits the calls one after another: with agents that never wait, the
    cheapest way Python can run them (no task per call)."""
    return [await c for c in calls]


async def deliberate(agents, task, rounds, each):
    proposals = list(await each(*(a.generate(task) for a in agents)))
    n = len(agents)
    for rnd in range(1, rounds + 1):
        critiques = await each(
            *(agents[k].critique(task, proposals[(k + 1) % n], rnd)
              for k in range(n)))
        feedback = [[] for _ in range(n)]
        for k, c in enumerate(critiques):
            feedback[(k + 1) % n].append(c)
        proposals = list(await each(
            *(agents[k].revise(task, proposals[k], feedback[k])
              for k in range(n))))
    results = [{"proposal": p, "checks": checks(task, p)} for p in proposals]
    results.sort(key=lambda r: (-r["checks"]["score"],
                                -sum(r["checks"]["passed"]),
                                r["proposal"]["author"]))
    for rank, r in enumerate(results, 1):
        r["rank"] = rank
    winner = results[0]["proposal"]["author"]  # the rule-based architect
    return {"task_id": task["id"], "results": results, "winner_id": winner,
            "status": "completed"}


async def run(opt):
    agents = [Agent(f"agent-dev-{i + 1:03d}") for i in range(opt.agents)]
    each = asyncio.gather if opt.calls == "gather" else in_turn
    store = OrderedDict()
    latencies = []
    total = opt.warmup + opt.deliberations
    next_id = 0
    started = None
    cpu_start = None

    async def worker():
        nonlocal next_id, started, cpu_start
        while next_id < total:
            k = next_id
            next_id += 1
            if k == opt.warmup:
                started = time.perf_counter()
                cpu_start = time.process_time()
            t0 = time.perf_counter()
            out = await deliberate(agents, {"id": f"bench-{k}"}, opt.rounds,
                                   each)
            store[out["task_id"]] = out
            if len(store) > 10000:
                store.popitem(last=False)
            if k >= opt.warmup:
                latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(worker() for _ in range(opt.concurrency)))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_start
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1,
                             int(p / 100 * (len(latencies) - 1) + 0.5))]

    return {"bench": "python_engine",
            "measures": "the engine workload in plain Python asyncio",
            "calls": opt.calls, "agents": opt.agents, "rounds": opt.rounds,
            "concurrency": opt.concurrency,
            "deliberations": opt.deliberations,
            "wall_s": round(wall, 3),
            "deliberations_per_s": round(opt.deliberations / wall),
            "p50_ms": round(pct(50) * 1000, 3),
            "p99_ms": round(pct(99) * 1000, 3),
            "cpu_us_per_deliberation":
                round(cpu / opt.deliberations * 1e6, 2)}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=3)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--deliberations", type=int, default=200000)
    p.add_argument("--warmup", type=int, default=2000)
    p.add_argument("--calls", choices=["gather", "await"], default="gather",
                   help="agent calls of a phase at once (asyncio.gather, as "
                        "the service runs model calls) or awaited in turn")
    opt = p.parse_args()
    print(json.dumps(asyncio.run(run(opt))))


if __name__ == "__main__":
    main()
