// common.mjs -- what the Node.js client programs share: the environment, the cases the shipped
// rule set sends to each queue, reply shapes, and the "ok NAME" / "FAIL NAME" runner.
export const PORT = Number(process.env.REDRESS_PORT);
export const TOKEN = process.env.REDRESS_TOKEN;
export const LOGISTICS = "快递没收到 parcel late";
export const SUPPORT = "屏幕坏了 screen broken";

// A field/value reply as an object: a flat array (RESP2), a Map or an object (RESP3).
export function asMap(reply) {
  if (Array.isArray(reply)) {
    const out = {};
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = reply[i + 1];
    return out;
  }
  if (reply instanceof Map) return Object.fromEntries([...reply].map(([k, v]) => [String(k), v]));
  return reply;
}

export function assert(condition, ...what) {
  if (!condition) throw new Error("assertion failed: " + what.map((w) => JSON.stringify(w)).join(" "));
}

// Resolves with the first value `wanted` is given, or rejects after the deadline (real I/O).
export function waitFor(label, seconds = 10) {
  let resolve;
  const promise = new Promise((res, rej) => {
    resolve = res;
    const timer = setTimeout(() => rej(new Error("nothing within " + seconds + " s: " + label)), seconds * 1000);
    timer.unref();
  });
  return { promise, resolve };
}

// How long one test may take: a client that cannot connect retries for ever by default.
const TEST_SECONDS = 30;

export async function run(tests) {
  let passed = 0, failed = 0;
  for (const [name, fn] of Object.entries(tests)) {
    const deadline = waitFor(name + " to finish", TEST_SECONDS);
    try {
      await Promise.race([fn(), deadline.promise]);
      passed++;
      console.log("ok   " + name);
    } catch (e) {
      failed++;
      console.log("FAIL " + name + ": " + String(e && e.stack ? e.stack : e).replace(/\n/g, "\n     "));
    }
  }
  console.log(passed + " passed, " + failed + " failed");
  process.exit(failed ? 1 : 0);
}
