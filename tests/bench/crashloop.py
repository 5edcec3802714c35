#!/usr/bin/env python3
"""crashloop.py -- 100 rounds (or --rounds N) of kill -9 under pipelined mixed
load with idempotency keys against BUILD/redressd; after each round: every
acknowledged write exactly once, resends create no duplicate,
PRAGMA integrity_check ok (tests/functional/crashloop.py says how).

    python3 tests/bench/crashloop.py [--build build] [--rounds 100] [--clients 4]
"""
import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    os.environ["REDRESSD"] = os.path.join(ROOT, args.build, "redressd")
    sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
    import crashloop
    started = time.time()
    crashloop.run(rounds=args.rounds, clients=args.clients, log=lambda line: print(line, flush=True))
    print("crash loop: %d rounds passed in %.0f s" % (args.rounds, time.time() - started))


if __name__ == "__main__":
    main()
