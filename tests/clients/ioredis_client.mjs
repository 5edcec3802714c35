// ioredis (npm "ioredis", pinned in package.json) against redressd, in its default configuration
// (protocol 3: HELLO 3 AUTH user pass).  Run by suite.py with REDRESS_PORT and REDRESS_TOKEN.
// The README's ioredis snippet is the first test's code.
import Redis from "ioredis";
import { PORT, TOKEN, LOGISTICS, SUPPORT, asMap, assert, waitFor, run } from "./common.mjs";

function connect(options = {}) {
  return new Redis({ host: "127.0.0.1", port: PORT, username: "admin", password: TOKEN, ...options });
}

async function caseCount(redis) {
  return Number(asMap(await redis.call("STATS")).cases);
}

await run({
  async connect_open_and_read() {
    const redis = new Redis({ host: "127.0.0.1", port: PORT, username: "admin", password: TOKEN });
    const id = await redis.call("CASE.OPEN", "customer", "C-1", "subject", "包裹破损 parcel damaged");
    const kase = asMap(await redis.call("CASE.GET", id));
    console.log(kase.id, kase.state, kase.subject);
    assert(String(kase.id) === String(id) && kase.subject === "包裹破损 parcel damaged", kase);
    redis.disconnect();
  },

  async pipeline_of_1000_commands() {
    const redis = connect();
    const pipeline = redis.pipeline();
    for (let i = 0; i < 1000; i++)
      pipeline.call("CASE.OPEN", "customer", `C-${i}`, "subject", SUPPORT, "external_id", `io-${i}`);
    const results = await pipeline.exec();
    assert(results.every(([err]) => err === null), results.find(([err]) => err));
    const ids = results.map(([, id]) => String(id));
    assert(ids.length === 1000 && new Set(ids).size === 1000, ids.slice(0, 3));
    redis.disconnect();
  },

  async transaction_that_fails_writes_nothing() {
    const redis = connect();
    const open = await redis.call("CASE.OPEN", "customer", "C-1", "subject", SUPPORT);
    const before = await caseCount(redis);
    let failure = null;
    try {
      const results = await redis.multi()
        .call("CASE.OPEN", "customer", "C-2", "subject", SUPPORT, "external_id", "io-tx")
        .call("CASE.NOTE", open, "checked")
        .call("CASE.CLOSE", open)          // -BADSTATE: an open case is not closed
        .exec();
      failure = (results || []).map(([err]) => err).find((err) => err) || null;
      assert(failure, "EXEC succeeded", results);
    } catch (e) {
      failure = e;
    }
    assert(/BADSTATE|EXECABORT/.test(String(failure && failure.message)), String(failure));
    assert((await caseCount(redis)) === before, "the transaction wrote");
    const results = await redis.multi()
      .call("CASE.OPEN", "customer", "C-2", "subject", SUPPORT, "external_id", "io-tx")
      .call("CASE.NOTE", open, "checked")
      .exec();
    assert(results.every(([err]) => err === null) && results[1][1] === "OK", results);
    assert((await caseCount(redis)) === before + 1);
    redis.disconnect();
  },

  async subscribe_two_queues_unsubscribe_one() {
    const redis = connect();
    const subscriber = connect();
    const got = waitFor("a logistics message");
    const heard = [];
    subscriber.on("message", (channel, message) => {
      heard.push([channel, message]);
      got.resolve();
    });
    assert((await subscriber.subscribe("support", "logistics")) === 2);
    assert((await subscriber.unsubscribe("support")) === 1);
    await redis.call("CASE.OPEN", "customer", "C-1", "subject", SUPPORT);
    const logistics = await redis.call("CASE.OPEN", "customer", "C-1", "subject", LOGISTICS);
    await got.promise;
    // The support case came first: had it been delivered, it would be the first heard.
    assert(heard[0][0] === "logistics" && heard[0][1].includes(`event=opened case=${logistics} `), heard);
    subscriber.disconnect();
    redis.disconnect();
  },

  async pattern_subscribe() {
    const redis = connect();
    const subscriber = connect();
    const got = waitFor("a pmessage");
    const heard = [];
    subscriber.on("pmessage", (pattern, channel, message) => {
      heard.push([pattern, channel, message]);
      got.resolve();
    });
    assert((await subscriber.psubscribe("log*")) === 1);
    await redis.call("CASE.OPEN", "customer", "C-1", "subject", SUPPORT);
    const logistics = await redis.call("CASE.OPEN", "customer", "C-1", "subject", LOGISTICS);
    await got.promise;
    assert(heard[0][0] === "log*" && heard[0][1] === "logistics" &&
           heard[0][2].includes(`event=opened case=${logistics} `), heard);
    subscriber.disconnect();
    redis.disconnect();
  },

  async client_name() {
    const redis = connect({ connectionName: "io-worker" });
    assert((await redis.client("GETNAME")) === "io-worker");
    const list = String(await redis.client("LIST"));
    assert(list.includes("name=io-worker"), list);
    redis.disconnect();
  },
});
