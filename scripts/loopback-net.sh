#!/bin/sh
# The network of a loopback-only test namespace (unshare -n): lo up, and a default route
# through lo, without which Firefox gathers no ICE candidate at all. Through lo it reaches
# nothing outside; the resolvers are made unreachable so name lookups still fail at once
# (otherwise each waits for the DNS timeout). Idempotent: tests/firefox.py runs it again
# when a test has taken lo down and up (which removes the route).
set -e
ip link set lo up
ip route replace default dev lo src 127.0.0.1
for ns in $(awk '/^nameserver/ {print $2}' /etc/resolv.conf 2>/dev/null); do
  ip route replace unreachable "$ns" 2>/dev/null || true
done
