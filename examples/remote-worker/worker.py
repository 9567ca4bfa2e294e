#!/usr/bin/env python3
"""An example external worker for `remote` agents, with nothing but Debian's
python3 (the NATS text protocol over a socket).

It subscribes to agent.cmd.<role>.> (a queue group, so several workers share
the commands), answers every command on agent.response.completed with an
envelope whose payload has task_id, agent_id, role, correlation_id,
timestamp and proposal.content, and answers agent.response.failed when it
cannot. See README.md ("Remote agents") for the protocol.

    worker.py --nats nats://127.0.0.1:4222 [--role dev] [--silent AGENT_ID]...

--silent makes it ignore the commands of an agent (to show the time limit).
"""

import argparse
import json
import socket
import sys
import time
import uuid


class Nats:
    def __init__(self, url):
        hostport = url.split("://", 1)[-1].rsplit("@", 1)[-1]
        host, _, port = hostport.partition(":")
        self.sock = socket.create_connection((host, int(port or 4222)))
        self.buf = b""
        self.readline()  # INFO
        self.send(b'CONNECT {"verbose":false,"headers":true,"no_responders":true,'
                  b'"name":"example-worker","lang":"python","version":"1"}\r\n')

    def send(self, data):
        self.sock.sendall(data)

    def readline(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("NATS closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("NATS closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def publish(self, subject, payload, msg_id):
        hdr = ("NATS/1.0\r\nNats-Msg-Id: %s\r\nContent-Type: application/json"
               "\r\n\r\n" % msg_id).encode()
        self.send(b"HPUB %s %d %d\r\n%s%s\r\n" % (
            subject.encode(), len(hdr), len(hdr) + len(payload), hdr, payload))

    def messages(self):
        while True:
            line = self.readline()
            if line == b"PING":
                self.send(b"PONG\r\n")
            elif line.startswith(b"MSG "):
                parts = line.split()
                yield parts[1].decode(), self.read(int(parts[-1]))
            elif line.startswith(b"HMSG "):
                parts = line.split()
                hlen, total = int(parts[-2]), int(parts[-1])
                data = self.read(total)
                yield parts[1].decode(), data[hlen:]
            elif line.startswith(b"-ERR"):
                print("worker: NATS error:", line.decode(), file=sys.stderr)


def answer(op, agent, inp):
    task = inp.get("task", {})
    text = task.get("description", "")
    reqs = task.get("constraints", {}).get("requirements", [])
    if op == "generate":
        lines = ["Proposal of %s (example-worker) for: %s" % (agent, text)]
        lines += ["- covers %s" % r for r in reqs]
        return "\n".join(lines)
    if op == "critique":
        content = inp.get("proposal", {}).get("content", "")
        gaps = [r for r in reqs if r not in content]
        return "\n".join("- missing %s" % g for g in gaps) or "- no gaps found"
    if op == "revise":
        content = inp.get("proposal", {}).get("content", "")
        notes = [c.get("content", "") for c in inp.get("critiques", [])]
        return content + "\nRevised by %s after %d critiques" % (agent, len(notes))
    raise ValueError("unknown op %r" % op)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nats", default="nats://127.0.0.1:4222")
    ap.add_argument("--role", default="*", help="role to serve, lower case")
    ap.add_argument("--silent", action="append", default=[],
                    help="agent id whose commands are ignored")
    args = ap.parse_args()
    nc = Nats(args.nats)
    nc.send(b"SUB agent.cmd.%s.* workers 1\r\n" % args.role.encode())
    nc.send(b"PING\r\n")
    print("worker: listening on agent.cmd.%s.*" % args.role, file=sys.stderr,
          flush=True)
    for subject, data in nc.messages():
        try:
            env = json.loads(data)
            cmd = env.get("payload", env)
            agent = cmd["agent_id"]
            if agent in args.silent:
                continue
            base = {"task_id": cmd["task_id"], "agent_id": agent,
                    "role": cmd["role"], "timestamp": time.time(),
                    "correlation_id": cmd["correlation_id"]}
            try:
                content = answer(cmd["op"], agent, cmd.get("input", {}))
                base["proposal"] = {"content": content, "author_id": agent,
                                    "author_role": cmd["role"],
                                    "model": "example-worker"}
                out = "agent.response.completed"
            except Exception as e:  # a failed call, reported as such
                base.update(error=str(e), error_type="worker_error")
                out = "agent.response.failed"
            reply = {"event_type": out, "payload": base,
                     "idempotency_key": "resp:" + cmd["correlation_id"],
                     "correlation_id": cmd["correlation_id"],
                     "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                time.gmtime()),
                     "producer": "example-worker", "metadata": {}}
            nc.publish(out, json.dumps(reply).encode(),
                       "resp:" + cmd["correlation_id"])
        except Exception as e:
            print("worker: cannot handle a command on %s: %s" % (subject, e),
                  file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
