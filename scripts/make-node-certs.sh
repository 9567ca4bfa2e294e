#!/usr/bin/env bash
# Makes a private CA and certificates for mutual TLS between orchestrator
# nodes (NODE_TLS_CERT, NODE_TLS_KEY, NODE_TLS_CA), with openssl:
#
#   scripts/make-node-certs.sh DIR [NAME ...]
#
# DIR/ca.pem and DIR/ca.key, then DIR/NAME.pem and DIR/NAME.key for every
# NAME (default: orchestrator node), each signed by the CA, valid 30 days.
# For tests and trials; production certificates come from your own PKI.
set -euo pipefail
dir=${1:?usage: make-node-certs.sh DIR [NAME ...]}
shift
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(orchestrator node)
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=orchestrator-ca" \
  -keyout ca.key -out ca.pem 2>/dev/null
for n in "${names[@]}"; do
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$n" \
    -keyout "$n.key" -out "$n.csr" 2>/dev/null
  openssl x509 -req -in "$n.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -days 30 -out "$n.pem" 2>/dev/null
  rm -f "$n.csr"
done
chmod 600 ./*.key
