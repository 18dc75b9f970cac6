// A durable offline store that fails saves (a full quota, a closed database) or a load, or a store slow to
// load: what the app is told, what the store holds at close, that nothing of the client runs after close,
// and that nothing connects before the store was read. The stores are MemoryStore subclasses that say they
// are durable and fail on purpose, or hold their load back; the connection, where one is needed, is the
// engine's Connector fed frame by frame (engine-harness.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff } from "../src/backoff.js";
import { type HandoffError, HandoffClient, MemoryStore, type StoredState } from "../src/index.js";
import { engineOn, firstLink, welcomed } from "./engine-harness.js";
import { until } from "./harness.js";

/** Durable; fails every save while `failing`, and waits for `held` before answering a save. */
class FailingStore extends MemoryStore {
  override readonly durable = true;
  failing = false;
  held?: Promise<void>;
  saves = 0;
  override async save(state: StoredState): Promise<void> {
    this.saves++;
    await this.held;
    if (this.failing) throw new Error("QuotaExceededError: the quota has been exceeded");
    return super.save(state);
  }
}

/** A client that is never connected: writes wait in its store. */
function offlineClient(store: MemoryStore): { client: HandoffClient; errors: HandoffError[] } {
  const client = new HandoffClient({ url: "ws://127.0.0.1:9/ws", token: "t", store, reconnect: { initialMs: 5, maxMs: 20 } });
  const errors: HandoffError[] = [];
  client.on("error", (e) => errors.push(e));
  return { client, errors };
}

const stored = async (store: MemoryStore) => ((await store.load())?.writes ?? []).map((w) => w.ops[0]!.field);

/** Resolves once the store holds writes of exactly these fields; polls with a generous deadline. */
async function storeHolds(store: MemoryStore, fields: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (JSON.stringify(await stored(store)) !== JSON.stringify(fields)) {
    if (Date.now() > deadline) throw new Error(`the store holds ${JSON.stringify(await stored(store))}, not ${JSON.stringify(fields)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("a write the final save at close could not keep is not reported as kept", async () => {
  const store = new FailingStore();
  const { client, errors } = offlineClient(store);
  await client.ready();
  const kept = client.document("cart").set("kept", "1");
  await storeHolds(store, ["kept"]);
  store.failing = true;
  const lost = client.document("cart").set("lost", "2");
  await until("its save failed", () => errors.length > 0);
  await client.close();
  assert.deepEqual(await stored(store), ["kept"], "the store holds the first write only");

  const k = (await kept.catch((e) => e)) as HandoffError;
  assert.equal(k.code, "CLIENT_CLOSED");
  assert.equal(k.mayHaveBeenApplied, true, "kept: the next client of the store sends it");
  assert.match(k.message, /stays in the offline store/);

  const l = (await lost.catch((e) => e)) as HandoffError;
  assert.equal(l.code, "STORE_FAILED", `lost, not kept: ${l.code}: ${l.message}`);
  assert.equal(l.mayHaveBeenApplied, false, "never sent, and no store holds it");
  assert.equal(l.retryable, false);
  assert.match(l.message, /QuotaExceededError/);
});

test("a failed save is reported as retryable and tried again without a further change", async () => {
  const store = new FailingStore();
  const { client, errors } = offlineClient(store);
  try {
    await client.ready();
    store.failing = true;
    void client.document("cart").set("f", "x").catch(() => {});
    await until("a save failed", () => errors.length > 0);
    const e = errors[0]!;
    assert.equal(e.code, "STORE_FAILED", `the app can tell a store failure from a server's INTERNAL: ${e.code}`);
    assert.equal(e.retryable, true, "nothing is given up: the client saves again");
    assert.equal(e.mayHaveBeenApplied, false);
    assert.match(e.message, /^offline store save failed: .*QuotaExceededError/);
    store.failing = false;
    // No further change: the client's own retry puts the write in the store (a reload now keeps it).
    await storeHolds(store, ["f"]);
  } finally {
    await client.close();
  }
});

test("a load that failed is tried again by the next ready()", async () => {
  class FlakyLoad extends MemoryStore {
    loads = 0;
    override async load(): Promise<StoredState | undefined> {
      if (this.loads++ === 0) throw new Error("UnknownError: the database could not be opened");
      return super.load();
    }
  }
  const store = new FlakyLoad();
  await store.save({ nextSeq: 3n, documents: [], writes: [{ document: "cart", seq: 0n, ops: [{ field: "f", remove: true }] }] });
  const { client } = offlineClient(store);
  try {
    await assert.rejects(client.ready(), /could not be opened/);
    await client.ready();
    assert.equal(store.loads, 2, "read again");
    assert.equal(client.pendingWrites, 1, "and its write is back");
  } finally {
    await client.close();
  }
});

/** A backoff of 30 s each time: no timer of it fires in a test. */
const quiet = () => new Backoff(60_000, 60_000, () => 0.5);

const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

test("no timer of the client is left once close() resolved, also after a save that failed during the close", async () => {
  const before = timers();
  const store = new FailingStore();
  const { engine } = await welcomed(store, quiet());
  let open!: () => void;
  store.held = new Promise((r) => (open = r));
  const saves = store.saves;
  void engine.document("cart").set("f", "x").catch(() => {});
  await until("the save of its number started", () => store.saves > saves);
  store.failing = true;
  const closed = engine.close();
  open();
  await closed;
  assert.equal(timers(), before, `timers left after close: ${process.getActiveResourcesInfo().join(", ")}`);
});

test("writes a close for good dropped leave the store although the save right after it failed", async () => {
  const store = new FailingStore();
  const { engine, link } = await welcomed(store, new Backoff(5, 20));
  try {
    const write = engine.document("cart").set("f", "x");
    await storeHolds(store, ["f"]);
    store.failing = true;
    const saves = store.saves;
    link.onClose(4503, "device session revoked");
    await assert.rejects(write, (e: HandoffError) => e.code === "CLOSED" && e.closeCode === 4503);
    await until("the save after the close failed", () => store.saves > saves);
    store.failing = false;
    // The device signed in again on this store must not send what the user erased.
    await storeHolds(store, []);
  } finally {
    await engine.close();
  }
});

test("offline mode ended while the store is still being read connects only once it was read, with the positions it holds", async () => {
  class SlowLoad extends MemoryStore {
    held?: Promise<void>;
    override async load(): Promise<StoredState | undefined> {
      await this.held;
      return super.load();
    }
  }
  const store = new SlowLoad();
  const fields = { f: new TextEncoder().encode("x") };
  await store.save({ userId: "u", deviceId: "phone", nextSeq: 0n, documents: [{ name: "cart", epoch: 7n, version: 3n, fields }], writes: [] });
  let read!: () => void;
  store.held = new Promise((r) => (read = r));
  const { engine, link, sent } = engineOn(store, quiet());
  try {
    void engine.connect().catch(() => {});
    engine.setPaused(true);
    engine.setPaused(false);
    await new Promise((r) => setImmediate(r));
    assert.equal(link(), undefined, "no connection attempt before the store was read");
    read();
    const l = await firstLink(link);
    l.onOpen();
    const hello = sent[0]?.body;
    assert.equal(hello?.case, "hello");
    assert.deepEqual(
      hello.value.positions.map((p) => [p.document, p.version]),
      [["cart", 3n]],
    );
  } finally {
    read();
    await engine.close();
  }
});
