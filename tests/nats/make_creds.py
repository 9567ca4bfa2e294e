#!/usr/bin/python3
"""Makes a NATS operator-mode setup for the tests: an operator, a system
account, an account with JetStream, and users of that account as credentials
files (JWT + nkey seed), signed the way nats-server checks them (ed25519
nkeys, JWT v2). Test material only, made at test time.

usage: make_creds.py DIR USER [USER...]
writes DIR/auth.conf (for nats-server -c), DIR/USER.creds for each user and
DIR/stranger.creds (a user of an account the server does not know)."""

import base64
import binascii
import hashlib
import json
import os
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

PREFIX_SEED = 18 << 3
PREFIX = {"operator": 14 << 3, "account": 0, "user": 20 << 3}


def crc16(data):
    return binascii.crc_hqx(data, 0)  # CRC-16/XMODEM, as nkeys use


def b32(data):
    return base64.b32encode(data).decode().rstrip("=")


def with_crc(raw):
    return raw + crc16(raw).to_bytes(2, "little")


class NKey:
    def __init__(self, kind):
        self.kind = kind
        self.seed = os.urandom(32)
        self.key = Ed25519PrivateKey.from_private_bytes(self.seed)
        pub = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = b32(with_crc(bytes([PREFIX[kind]]) + pub))

    def seed_text(self):
        p = PREFIX[self.kind]
        head = bytes([PREFIX_SEED | (p >> 5), (p & 31) << 3])
        return b32(with_crc(head + self.seed))

    def sign(self, data):
        return self.key.sign(data)


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def jwt(issuer, subject, name, nats):
    claims = {"iat": int(time.time()), "iss": issuer.public, "name": name,
              "sub": subject.public, "nats": nats}
    claims["jti"] = b32(hashlib.sha256(
        json.dumps(claims, sort_keys=True).encode()).digest())
    header = b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64url(json.dumps(claims).encode())
    signed = (header + "." + body).encode()
    return header + "." + body + "." + b64url(issuer.sign(signed))


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1,
             "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1,
             "consumer": -1}


def account(operator, name, jetstream):
    key = NKey("account")
    limits = dict(UNLIMITED, **(JETSTREAM if jetstream else {}))
    return key, jwt(operator, key, name,
                    {"limits": limits, "default_permissions": {"pub": {}, "sub": {}},
                     "type": "account", "version": 2})


def creds(acct, name):
    user = NKey("user")
    token = jwt(acct, user, name,
                {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                 "type": "user", "version": 2})
    return ("-----BEGIN NATS USER JWT-----\n" + token
            + "\n------END NATS USER JWT------\n\n"
            "-----BEGIN USER NKEY SEED-----\n" + user.seed_text()
            + "\n------END USER NKEY SEED------\n")


def main():
    out, users = sys.argv[1], sys.argv[2:]
    operator = NKey("operator")
    op_jwt = jwt(operator, operator, "orch-test-operator",
                 {"type": "operator", "version": 2})
    sys_key, sys_jwt = account(operator, "SYS", False)
    app_key, app_jwt = account(operator, "ORCH", True)
    with open(os.path.join(out, "operator.jwt"), "w") as f:
        f.write(op_jwt)
    with open(os.path.join(out, "auth.conf"), "w") as f:
        f.write("operator: %s\nsystem_account: %s\nresolver: MEMORY\n"
                "resolver_preload: {\n  %s: \"%s\"\n  %s: \"%s\"\n}\n"
                % (os.path.join(out, "operator.jwt"), sys_key.public,
                   sys_key.public, sys_jwt, app_key.public, app_jwt))
    for name in users:
        with open(os.path.join(out, name + ".creds"), "w") as f:
            f.write(creds(app_key, name))
    # A user of an account that the server never heard of.
    stranger_op = NKey("operator")
    foreign_key, _ = account(stranger_op, "FOREIGN", True)
    with open(os.path.join(out, "stranger.creds"), "w") as f:
        f.write(creds(foreign_key, "stranger"))


if __name__ == "__main__":
    main()
