#!/usr/bin/env bash
# Deadlines at scale: the in-memory heap with 1,000,000 pending deadlines
# (RSS per deadline, arm, cancel, fire), then a restart of redressd with
# 1,000,000 open cases and 2,000,000 running deadlines in its database.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x build/redressd ] || { echo "build/redressd missing: run make first" >&2; exit 1; }
mkdir -p build/bench
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Icore tests/bench/timerheap_bench.c core/lib/timerheap.c \
    -o build/bench/timerheap_bench
echo "== timer heap"
build/bench/timerheap_bench
echo
echo "== restart"
python3 tests/bench/restart.py
