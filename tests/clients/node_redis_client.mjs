// node-redis (npm "redis", pinned in package.json) against redressd, in its default configuration
// (RESP3: HELLO 3 AUTH user pass).  Run by suite.py with REDRESS_PORT and REDRESS_TOKEN.
// The README's node-redis snippet is the first test's code.
import { createClient } from "redis";
import { PORT, TOKEN, LOGISTICS, SUPPORT, asMap, assert, waitFor, run } from "./common.mjs";

const url = `redis://admin:${TOKEN}@127.0.0.1:${PORT}`;

async function connect(options = {}) {
  const client = createClient({ url, ...options });
  client.on("error", (e) => console.error("client error:", e.message));
  await client.connect();
  return client;
}

async function caseCount(client) {
  return Number(asMap(await client.sendCommand(["STATS"])).cases);
}

await run({
  async connect_open_and_read() {
    const client = createClient({ url: `redis://admin:${TOKEN}@127.0.0.1:${PORT}` });
    client.on("error", (e) => console.error(e));
    await client.connect();
    const id = await client.sendCommand(["CASE.OPEN", "customer", "C-1", "subject", "包裹破损 parcel damaged"]);
    const reply = await client.sendCommand(["CASE.GET", String(id)]);
    const kase = reply instanceof Map ? Object.fromEntries(reply) : reply;
    console.log(kase.id, kase.state, kase.subject);
    assert(String(asMap(kase).id) === String(id) && asMap(kase).subject === "包裹破损 parcel damaged", kase);
    await client.quit();
  },

  async pipeline_of_1000_commands() {
    const client = await connect();
    const pipeline = client.multi();
    for (let i = 0; i < 1000; i++)
      pipeline.addCommand(["CASE.OPEN", "customer", `C-${i}`, "subject", SUPPORT, "external_id", `node-${i}`]);
    const ids = await pipeline.execAsPipeline();
    assert(ids.length === 1000 && new Set(ids.map(String)).size === 1000, ids.slice(0, 3));
    // Commands sent in one tick are pipelined too: the same ids again (external_id), nothing opened.
    const before = await caseCount(client);
    const again = await Promise.all(ids.map((_, i) =>
      client.sendCommand(["CASE.OPEN", "customer", `C-${i}`, "subject", SUPPORT, "external_id", `node-${i}`])));
    assert(again.map(String).join() === ids.map(String).join() && (await caseCount(client)) === before);
    await client.quit();
  },

  async transaction_that_fails_writes_nothing() {
    const client = await connect();
    const open = String(await client.sendCommand(["CASE.OPEN", "customer", "C-1", "subject", SUPPORT]));
    const before = await caseCount(client);
    let error = null;
    try {
      const replies = await client.multi()
        .addCommand(["CASE.OPEN", "customer", "C-2", "subject", SUPPORT, "external_id", "node-tx"])
        .addCommand(["CASE.NOTE", open, "checked"])
        .addCommand(["CASE.CLOSE", open])      // -BADSTATE: an open case is not closed
        .exec();
      error = replies.find((r) => r instanceof Error) || null;
      assert(error, "EXEC succeeded", replies);
    } catch (e) {
      error = e;
    }
    assert(/BADSTATE|EXECABORT/.test(String(error && (error.message || error))) ||
           (error.replies || []).some((r) => /BADSTATE/.test(String(r))), String(error));
    assert((await caseCount(client)) === before, "the transaction wrote");
    const [id, ok] = await client.multi()
      .addCommand(["CASE.OPEN", "customer", "C-2", "subject", SUPPORT, "external_id", "node-tx"])
      .addCommand(["CASE.NOTE", open, "checked"])
      .exec();
    assert(Number(id) > 0 && ok === "OK" && (await caseCount(client)) === before + 1, id, ok);
    await client.quit();
  },

  async subscribe_two_queues_unsubscribe_one() {
    const client = await connect();
    const subscriber = client.duplicate();
    await subscriber.connect();
    const got = waitFor("a logistics message");
    const heard = [];
    const listener = (message, channel) => {
      heard.push([channel, message]);
      got.resolve();
    };
    await subscriber.subscribe(["support", "logistics"], listener);
    await subscriber.unsubscribe("support");
    await client.sendCommand(["CASE.OPEN", "customer", "C-1", "subject", SUPPORT]);
    const logistics = await client.sendCommand(["CASE.OPEN", "customer", "C-1", "subject", LOGISTICS]);
    await got.promise;
    // The support case came first: had it been delivered, it would be the first heard.
    assert(heard[0][0] === "logistics" && heard[0][1].includes(`event=opened case=${logistics} `), heard);
    await subscriber.quit();
    await client.quit();
  },

  async pattern_subscribe() {
    const client = await connect();
    const subscriber = client.duplicate();
    await subscriber.connect();
    const got = waitFor("a pmessage");
    const heard = [];
    await subscriber.pSubscribe("log*", (message, channel) => {
      heard.push([channel, message]);
      got.resolve();
    });
    await client.sendCommand(["CASE.OPEN", "customer", "C-1", "subject", SUPPORT]);
    const logistics = await client.sendCommand(["CASE.OPEN", "customer", "C-1", "subject", LOGISTICS]);
    await got.promise;
    assert(heard[0][0] === "logistics" && heard[0][1].includes(`event=opened case=${logistics} `), heard);
    await subscriber.quit();
    await client.quit();
  },

  async client_name() {
    const client = await connect({ name: "node-worker" });
    assert((await client.sendCommand(["CLIENT", "GETNAME"])) === "node-worker");
    const list = String(await client.sendCommand(["CLIENT", "LIST"]));
    assert(list.includes("name=node-worker"), list);
    await client.quit();
  },
});
