#!/usr/bin/env python3
"""Search and customer-lookup benchmark on a large case base (make bench; not part of make test).

Builds a database of N cases (default 1,000,000; BENCH_SEARCH_CASES) with realistic after-sales
text -- seven in ten cases Chinese, the rest English, some with a customer's follow-up message --
for N/5 customers with two identities each: redressd creates the schema, the rows are written
straight into its SQLite file (what intake writes: customers, identities, cases, their opened
and message events, messages), then redressd starts on it: the first CASE.SEARCH answers
-LOADING at once, and the search index's worker thread indexes every text into search.db, then
merges the index (timed, polling INFO's search_index_behind and search_index_merging; how long
INFO took to answer meanwhile says what the loop's other clients waited; INFO's
search_step_max_ms and search_merge_step_max_ms what the worker's longest steps took).  Then, one client, one request at a
time:

  - customer lookup: CASE.LIST CUSTOMER <identity> LIMIT 20, for random customers;
  - two-word search: CASE.SEARCH "<w1> <w2>" LIMIT 20, random pairs of words of the corpus
    (Chinese, English, mixed);

and prints p50, p99 and max in milliseconds for each (target: p99 < 20 ms on 1M cases).
"""
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "functional"))
from harness import Client, parse_info  # noqa: E402

CASES = int(os.environ.get("BENCH_SEARCH_CASES", "1000000"))
QUERIES = int(os.environ.get("BENCH_SEARCH_QUERIES", "500"))
SEED = 13

ZH_WORDS = ["退款", "快递", "物流", "破损", "质量", "客服", "发票", "换货", "退货", "尺码", "颜色", "延迟",
            "丢件", "价格", "优惠券", "账号", "登录", "支付", "扣款", "地址", "屏幕", "电池", "充电器", "耳机",
            "划痕", "包装", "少件", "发错", "保修", "维修", "安装", "配送", "签收", "退回", "运费", "差价"]
ZH_FILLER = ["我的", "一直", "没有", "收到", "请问", "为什么", "已经", "还是", "怎么", "能不能", "帮我",
             "处理", "一下", "订单", "商品", "今天", "昨天", "三天", "了", "的", "很", "不", "也", "都"]
EN_WORDS = ["refund", "parcel", "delivery", "damaged", "broken", "screen", "battery", "charger", "invoice",
            "exchange", "return", "size", "colour", "late", "lost", "price", "coupon", "account", "login",
            "payment", "charged", "address", "warranty", "repair", "courier", "tracking", "missing", "wrong"]
EN_FILLER = ["my", "the", "is", "was", "not", "yet", "please", "still", "order", "item", "I", "have", "a",
             "no", "it", "and", "why", "when", "arrived", "received", "days", "ago", "help", "me", "with"]
CHANNELS = ["phone", "email", "chat", "social", "web", "app", "wechat"]
CATEGORIES = ["product_quality", "logistics", "wrong_order", "refund_policy", "payment", "general_inquiry"]
QUEUES = ["support", "logistics", "finance", "tech"]


def zh_text(rng, n):
    return "".join(rng.choice(ZH_WORDS) if rng.random() < 0.3 else rng.choice(ZH_FILLER) for _ in range(n))


def en_text(rng, n):
    return " ".join(rng.choice(EN_WORDS) if rng.random() < 0.3 else rng.choice(EN_FILLER) for _ in range(n))


def start(binary, data):
    proc = subprocess.Popen([binary, "--port", "0", "--data", data, "--rules", "", "--unix-socket", "off",
                             "--log-level", "warn"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    port = None
    for raw in proc.stderr:
        line = raw.decode(errors="replace")
        if 'msg="listening"' in line:
            port = int(line.split("port=")[1].split()[0])
            break
    if port is None:
        raise SystemExit("redressd did not start")
    token = open(os.path.join(data, "admin.token")).read().strip()
    return proc, Client(port, timeout=3600, token=token)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait()


def fill(path, rng):
    db = sqlite3.connect(path)
    db.execute("PRAGMA synchronous=OFF")
    customers = max(1, CASES // 5)
    t0 = 1790000000
    db.executemany("INSERT INTO customers(id, created_at) VALUES (?, ?)", ((i, t0) for i in range(1, customers + 1)))
    db.executemany("INSERT INTO customer_identities(kind, value, customer_id, created_at) VALUES (?, ?, ?, ?)",
                   ((k, v, i, t0) for i in range(1, customers + 1)
                    for k, v in (("account", "C-%d" % i), ("email", "c%d@example.com" % i))))
    event = 0
    cases, events, messages = [], [], []
    for case in range(1, CASES + 1):
        zh = rng.random() < 0.7
        subject = zh_text(rng, rng.randint(4, 8)) if zh else en_text(rng, rng.randint(4, 9))
        body = zh_text(rng, rng.randint(10, 30)) if zh else en_text(rng, rng.randint(12, 40))
        customer = rng.randint(1, customers)
        at = t0 + case * 30
        channel = rng.choice(CHANNELS)
        cases.append((case, "closed" if case < CASES * 0.8 else "open", channel, "C-%d" % customer, subject, body,
                      "O-%d" % case, rng.choice(CATEGORIES), rng.choice(QUEUES), "P3", at, at, customer))
        event += 1
        events.append((event, case, at, "admin", "opened", "state=new channel=%s customer=C-%d" % (channel, customer)))
        if rng.random() < 0.3:
            event += 1
            text = zh_text(rng, rng.randint(5, 20)) if zh else en_text(rng, rng.randint(5, 20))
            events.append((event, case, at + 60, "admin", "message", text))
            messages.append((event, case, "in", channel))
        if len(cases) >= 50000:
            flush(db, cases, events, messages)
    flush(db, cases, events, messages)
    db.commit()
    db.execute("ANALYZE")
    db.commit()
    db.close()
    return customers


def flush(db, cases, events, messages):
    db.executemany("INSERT INTO cases(id, state, channel, customer, subject, body, order_id, category, queue,"
                   " priority, created_at, updated_at, customer_id) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", cases)
    db.executemany("INSERT INTO events(id, case_id, at, actor, kind, detail) VALUES (?,?,?,?,?,?)", events)
    db.executemany("INSERT INTO messages(event_id, case_id, direction, channel) VALUES (?,?,?,?)", messages)
    db.commit()
    cases.clear()
    events.clear()
    messages.clear()


def timed(client, args):
    started = time.perf_counter()
    reply = client.call(*args)
    elapsed = (time.perf_counter() - started) * 1000
    if isinstance(reply, str) and reply.startswith(("ERR", "INVALID", "NOPERM")):
        raise SystemExit("%s: %s" % (args, reply))
    return elapsed, reply


def report(name, times):
    times.sort()
    p = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print("%-34s %6d requests  p50 %7.2f ms  p99 %7.2f ms  max %7.2f ms" % (name, len(times), p(0.5), p(0.99),
                                                                             times[-1]))


def main():
    binary = os.path.join(ROOT, "build", "redressd")
    rng = random.Random(SEED)
    data = tempfile.mkdtemp(prefix="redress-search-bench-")
    try:
        proc, client = start(binary, data)        # the schema
        client.close()
        stop(proc)
        started = time.perf_counter()
        customers = fill(os.path.join(data, "redress.db"), rng)
        print("cases: %d  customers: %d  rows written in %.1f s" % (CASES, customers, time.perf_counter() - started))
        # Timed from the start: the index's worker begins at once, before the port listens.
        started = time.perf_counter()
        proc, client = start(binary, data)
        print("started in %.1f s" % (time.perf_counter() - started))
        asked = time.perf_counter()
        first = client.call("CASE.SEARCH", "退款", "LIMIT", "1")
        print("first search, %.1f ms: %s" % ((time.perf_counter() - asked) * 1000, first))
        # The worker builds the index (search.db, from mark 0), then merges it: wait for both (INFO).
        worst = 0.0
        while True:
            asked = time.perf_counter()
            info = client.call("INFO", "cases")
            worst = max(worst, time.perf_counter() - asked)
            figures = parse_info(info)
            if figures["search_index_behind"] == "0" and figures["search_index_merging"] == "0":
                break
            time.sleep(0.05)
        print("index built and merged %.1f s after the start (INFO answered meanwhile in %.0f ms at worst)" %
              (time.perf_counter() - started, worst * 1000))
        print("longest step %s ms, longest merge step %s ms, %s merge steps (INFO)" %
              (figures.get("search_step_max_ms", "?"), figures.get("search_merge_step_max_ms", "?"),
               figures.get("search_merge_steps", "?")))
        lookups = [timed(client, ["CASE.LIST", "CUSTOMER", rng.choice(["C-%d", "c%d@example.com"]) %
                                  rng.randint(1, customers), "LIMIT", "20"])[0] for _ in range(QUERIES)]
        report("CASE.LIST CUSTOMER c LIMIT 20", lookups)
        for name, words in (("CASE.SEARCH zh zh LIMIT 20", (ZH_WORDS, ZH_WORDS)),
                            ("CASE.SEARCH en en LIMIT 20", (EN_WORDS, EN_WORDS)),
                            ("CASE.SEARCH zh en LIMIT 20", (ZH_WORDS, EN_WORDS))):
            times, hits = [], 0
            for _ in range(QUERIES):
                elapsed, reply = timed(client, ["CASE.SEARCH", "%s %s" % (rng.choice(words[0]), rng.choice(words[1])),
                                                "LIMIT", "20"])
                times.append(elapsed)
                hits += len(reply)
            report(name, times)
            print("%-34s average %.1f results" % ("", hits / QUERIES))
        client.close()
        stop(proc)
    finally:
        subprocess.run(["rm", "-rf", data])


if __name__ == "__main__":
    main()
