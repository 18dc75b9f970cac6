// The browser client and its offline store: the bundle (dist/handoff-client.min.js, served by the demo node at
// /demo/handoff-client.js) in real headless Chromium, with the browser's own WebSocket and IndexedDB,
// against the real server jar. No mocks.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { launchChromium, startDemoNode } from "./chromium.js";
import { mintToken, type Node } from "./harness.js";

let node: Node;
let context: BrowserContext;
before(async () => {
  // Both at once; what did start is stopped by `after` when the other did not.
  const [launched, started] = await Promise.allSettled([launchChromium(), startDemoNode()]);
  if (launched.status === "fulfilled") context = launched.value.browser;
  if (started.status === "fulfilled") node = started.value;
  for (const r of [launched, started]) if (r.status === "rejected") throw r.reason;
});
after(async () => {
  await context?.close();
  await node?.stop();
});

let users = 0;
const newUser = () => `store${process.pid}x${++users}`;

/** A page of the server's origin with a client of `user`/`device` as `window.t`; `storeKey` undefined: MemoryStore. */
async function openClient(user: string, device: string, storeKey?: string): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.log(`# ${device} page error: ${e.message}`));
  await page.goto(`${node.http}/demo/handoff-client.js`);
  await page.evaluate(
    async ([user, device, key]) => {
      const m = await import("/demo/handoff-client.js" as string);
      const store = key ? new m.IndexedDbStore(key) : undefined;
      const client = new m.HandoffClient({
        url: `ws://${location.host}/ws`,
        tokenSource: async () =>
          (await (await fetch(`/demo/token?device=${device}&user=${user}`)).json()).token as string,
        store,
        reconnect: { initialMs: 50, maxMs: 500 },
      });
      const log: unknown[] = [];
      const states: unknown[] = [];
      const errors: string[] = [];
      client.on("change", (c: any) =>
        log.push({ kind: c.kind, document: c.document, version: String(c.version), origin: c.originDevice ?? "" }),
      );
      client.on("state", (s: string, code: number) => states.push([s, code]));
      client.on("error", (e: any) => errors.push(`${e.code}: ${e.message}`));
      // How many writes the saved state under `key` holds, read from IndexedDB directly (the client
      // holds the store itself).
      const storedWrites = (key: string) =>
        new Promise<number>((done) => {
          const open = indexedDB.open("handoff", 1);
          open.onsuccess = () => {
            const get = open.result.transaction("state", "readonly").objectStore("state").get(key);
            get.onsuccess = () => {
              open.result.close();
              done(get.result?.writes.length ?? 0);
            };
          };
        });
      (window as any).t = { m, client, store, log, states, errors, storedWrites };
    },
    [user, device, storeKey] as const,
  );
  return page;
}

const connect = (page: Page) =>
  page.evaluate(async () => {
    const { client } = (window as any).t;
    const synced = new Promise<void>((r) => client.on("synced", r));
    await client.connect();
    await synced;
  });

const deltasFrom = (page: Page, doc: string, origin: string) =>
  page.evaluate(
    ([d, o]) => (window as any).t.log.filter((c: any) => c.kind === "delta" && c.document === d && c.origin === o).length,
    [doc, origin],
  );

describe("browser client and its offline store", () => {
  test("two tabs of one device sharing its IndexedDB store apply each write once", async () => {
    const user = newUser();
    const watcher = await openClient(user, "watcher");
    await connect(watcher);

    // Tab A: connected, then offline (the app's offline switch), makes two writes that wait in IndexedDB.
    const a = await openClient(user, "laptop", `${user}:laptop`);
    await connect(a);
    await a.evaluate(() => {
      const { client } = (window as any).t;
      client.setOffline(true);
      const cart = client.document("cart");
      (window as any).t.writes = [cart.set("book", "1"), cart.set("pen", "1")].map((p: Promise<bigint>) =>
        p.then(
          (v) => `acked v${v}`,
          (e) => `failed ${e.code}`,
        ),
      );
    });
    await a.waitForFunction(
      async (key) => (await (window as any).t.storedWrites(key)) === 2,
      `${user}:laptop`,
    );

    // Tab B of the same device (the same app opened in a second tab) opens the same store: it waits for
    // the key tab A holds (or, were it not to, goes on without it).
    const b = await openClient(user, "laptop", `${user}:laptop`);
    await b.evaluate(() => void (window as any).t.client.connect().catch(() => {}));
    await b.waitForFunction(
      async (name) =>
        (window as any).t.client.state !== "connecting" ||
        ((await navigator.locks.query()).pending ?? []).some((l) => l.name === name),
      `handoff:handoff:${user}:laptop`,
    );

    // Tab A comes back online and sends its writes; then it is closed (the tab goes away).
    await a.evaluate(() => (window as any).t.client.setOffline(false));
    await a.waitForFunction(
      () => (window as any).t.client.pendingWrites === 0 || (window as any).t.client.state === "closed",
      null,
      { timeout: 15_000 },
    );
    const outcomes = await a.evaluate(() =>
      Promise.race([Promise.all((window as any).t.writes), new Promise((r) => setTimeout(() => r("pending"), 1000))]),
    );
    await a.evaluate(() => (window as any).t.client.close());
    await b.waitForFunction(() => ["connected", "closed"].includes((window as any).t.client.state), null, { timeout: 15_000 });
    const bStates = await b.evaluate(() => JSON.stringify((window as any).t.states));
    console.log(`# tab A's write outcomes: ${JSON.stringify(outcomes)}; tab B's states: ${bStates}`);
    assert.equal(await b.evaluate(() => (window as any).t.client.state), "connected", "tab B takes over once tab A is closed");
    assert.equal(await b.evaluate(() => (window as any).t.client.pendingWrites), 0);
    // A write of tab B's own: applied after any of tab A's that B found in the store and sent again (a
    // device's writes to a document are applied in order), so once the watcher holds it, it holds those.
    const last = await b.evaluate(() => (window as any).t.client.document("cart").set("cup", "1").then(String));
    await watcher.waitForFunction((v) => String((window as any).t.client.document("cart").version) === v, last);
    assert.equal(await deltasFrom(watcher, "cart", "laptop"), 3, `two writes made once each, then tab B's; cart is at v${last}`);
    assert.equal(last, "3", "nothing applied between tab A's writes and tab B's");
    assert.deepEqual(outcomes, ["acked v1", "acked v2"]);
    for (const p of [watcher, a, b]) await p.close();
  });

  test("a client rebuilt on the IndexedDbStore of a closed one takes the key's lock again, waiting for another tab", async () => {
    const user = newUser();
    const key = `${user}:laptop`;
    const lockName = `handoff:handoff:${key}`;
    // Tab A's first client closes (the app signs out, or rebuilds its client) and gives the key back;
    // the app keeps its store object.
    const a = await openClient(user, "laptop", key);
    await connect(a);
    await a.evaluate(() => (window as any).t.client.close());
    // Tab B of the same device takes the key.
    const b = await openClient(user, "laptop", key);
    await connect(b);
    // Tab A builds a client again on the store it kept: it must wait for tab B as a new store would.
    await a.evaluate(() => {
      const t = (window as any).t;
      t.next = new t.m.HandoffClient({ url: `ws://${location.host}/ws`, token: "unused", store: t.store });
      t.nextLoaded = false;
      t.next.ready().then(() => (t.nextLoaded = true));
    });
    const locks = (page: Page) =>
      page.evaluate(async (name) => {
        const q = await navigator.locks.query();
        return {
          held: (q.held ?? []).filter((l) => l.name === name).length,
          pending: (q.pending ?? []).filter((l) => l.name === name).length,
          loaded: (window as any).t.nextLoaded as boolean,
        };
      }, lockName);
    // Either the load waits for the lock (its request is pending) or it went on without it.
    await a.waitForFunction(
      async (name) =>
        (window as any).t.nextLoaded || ((await navigator.locks.query()).pending ?? []).some((l) => l.name === name),
      lockName,
    );
    const whileBHoldsIt = await locks(a);
    assert.deepEqual(whileBHoldsIt, { held: 1, pending: 1, loaded: false }, "tab A's new client waits while tab B holds the key");
    await b.evaluate(() => (window as any).t.client.close());
    await a.waitForFunction(() => (window as any).t.nextLoaded);
    assert.deepEqual(await locks(a), { held: 1, pending: 0, loaded: true }, "and holds the key once tab B gave it back");
    await a.evaluate(() => (window as any).t.next.close());
    assert.deepEqual(await locks(a), { held: 0, pending: 0, loaded: true }, "which it gives back when it closes");
    await a.close();
    await b.close();
  });

  test("two clients on one IndexedDbStore object at once (a client rebuilt before the old one closed) take its key in turn", async () => {
    const user = newUser();
    const key = `${user}:laptop`;
    const lockName = `handoff:handoff:${key}`;
    const page = await openClient(user, "laptop", key);
    const seen = await page.evaluate(async (name) => {
      const t = (window as any).t;
      const held = async () => ((await navigator.locks.query()).held ?? []).filter((l) => l.name === name).length;
      const order: string[] = [];
      await t.client.ready();
      void t.client.document("cart").set("book", "1").catch(() => {});
      // The app builds its next client on the same store object before the first one has closed.
      const next = new t.m.HandoffClient({ url: `ws://${location.host}/ws`, token: "unused", store: t.store });
      const nextReady = next.ready().then(() => order.push("next loaded"));
      // Until it loaded (sharing the first one's key) or waits for the key.
      const waiting = async () => ((await navigator.locks.query()).pending ?? []).some((l) => l.name === name);
      while (order.length === 0 && !(await waiting())) await new Promise((r) => setTimeout(r, 5));
      order.push("first closes");
      await t.client.close();
      await nextReady;
      const whileNextLives = await held();
      const pending = next.pendingWrites as number;
      await next.close();
      return { order, whileNextLives, pending, afterBoth: await held() };
    }, lockName);
    assert.deepEqual(seen.order, ["first closes", "next loaded"], "the next client waits for the first one's close");
    assert.equal(seen.pending, 1, "and finds the write the first one kept");
    assert.equal(seen.whileNextLives, 1, "the key stays held while the next client lives");
    assert.equal(seen.afterBoth, 0);
    await page.close();
  });

  test("a write made in a tab still waiting for the key, then closed, is reported as not applied, not as kept", async () => {
    const user = newUser();
    const key = `${user}:laptop`;
    const a = await openClient(user, "laptop", key);
    await connect(a);
    // Tab B of the same device waits in connect() for tab A's key; the app writes meanwhile, then closes it.
    const b = await openClient(user, "laptop", key);
    await b.evaluate(() => {
      const t = (window as any).t;
      t.client.connect().catch(() => {});
      t.written = t.client
        .document("cart")
        .set("book", "1")
        .then(
          () => ({ code: "acked" }),
          (e: any) => ({ code: e.code as string, mayHaveBeenApplied: e.mayHaveBeenApplied as boolean, message: e.message }),
        );
    });
    await b.waitForFunction(
      async (name) => ((await navigator.locks.query()).pending ?? []).some((l) => l.name === name),
      `handoff:handoff:${key}`,
    );
    const outcome = await b.evaluate(async () => {
      const t = (window as any).t;
      await t.client.close();
      return t.written;
    });
    // The next client of the store (once tab A is gone) finds whether the write was kept.
    await a.evaluate(() => (window as any).t.client.close());
    const next = await openClient(user, "laptop", key);
    await connect(next);
    const kept = await next.evaluate(() => (window as any).t.client.pendingWrites);
    console.log(`# tab B's write: ${JSON.stringify(outcome)}; writes the next client found: ${kept}`);
    assert.equal(kept, 0, "tab B never held the store: its write was not saved there");
    assert.equal(outcome.code, "CLIENT_CLOSED");
    assert.equal(outcome.mayHaveBeenApplied, false, "never sent, not in the store: certainly not applied");
    assert.doesNotMatch(outcome.message, /stays in the offline store/);
    for (const p of [a, b, next]) await p.close();
  });

  test("a client whose store load failed gives the key back when it closes, so the next client of the key loads", async () => {
    const user = newUser();
    const key = `${user}:laptop`;
    const page = await openClient(user, "laptop");
    const seen = await page.evaluate(async ([key, name]) => {
      const { m } = (window as any).t;
      // Reads the key (taking its lock) and finds the record unreadable, once.
      const Store: new (key: string) => { load(client?: object): Promise<unknown> } = m.IndexedDbStore;
      class Unreadable extends Store {
        async load(client?: object) {
          await super.load(client);
          throw new Error("the stored state is unreadable");
        }
      }
      const first = new m.HandoffClient({ url: `ws://${location.host}/ws`, token: "unused", store: new Unreadable(key) });
      const failed = await first.ready().then(
        () => "loaded",
        (e: Error) => e.message,
      );
      await first.close();
      const held = ((await navigator.locks.query()).held ?? []).filter((l) => l.name === name).length;
      // The app (or the same page reloaded into a new client) builds the next client of the key.
      const next = new m.HandoffClient({ url: `ws://${location.host}/ws`, token: "unused", store: new m.IndexedDbStore(key) });
      const loaded = await Promise.race([
        next.ready().then(() => "loaded"),
        new Promise<string>((r) => setTimeout(() => r("still waiting for the key"), 5_000)),
      ]);
      await next.close();
      return { failed, held, loaded };
    }, [key, `handoff:handoff:${key}`] as const);
    assert.equal(seen.failed, "the stored state is unreadable");
    assert.equal(seen.held, 0, "the closed client holds the key no more");
    assert.equal(seen.loaded, "loaded");
    await page.close();
  });

  test("bytes the app changes after set() change neither what was written nor the replica", async () => {
    const user = newUser();
    const writer = await openClient(user, "writer");
    const reader = await openClient(user, "reader");
    await connect(writer);
    await connect(reader);
    const local = await writer.evaluate(async () => {
      const doc = (window as any).t.client.document("blob");
      const scratch = new Uint8Array([1, 2, 3, 4]); // a buffer the app reuses
      const written = doc.set("frame", scratch);
      scratch.fill(0xee); // the app moves on and reuses its buffer
      await written;
      return { version: String(doc.version), bytes: [...doc.get("frame")] };
    });
    await reader.waitForFunction(
      (v) => String((window as any).t.client.document("blob").version) === v,
      local.version,
    );
    const remote = await reader.evaluate(() => [...(window as any).t.client.document("blob").get("frame")]);
    assert.deepEqual(remote, [1, 2, 3, 4], "what the server holds is what the app wrote");
    assert.deepEqual(local.bytes, remote, `the writer's replica at v${local.version} is the server's`);
    await writer.close();
    await reader.close();
  });

  test("a write the closed client reports as not applied is not applied by the next client of its store", async () => {
    const user = newUser();
    const watcher = await openClient(user, "watcher");
    await connect(watcher);
    const phone = await openClient(user, "phone", `${user}:phone`);
    await connect(phone);
    const error = await phone.evaluate(async (key) => {
      const t = (window as any).t;
      t.client.setOffline(true);
      const written = t.client.document("cart").set("book", "1");
      // Wait until the write is in IndexedDB, as a page would have it after any pause.
      for (;;) {
        if ((await t.storedWrites(key)) === 1) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await t.client.close();
      return written.then(
        () => ({ code: "acked", mayHaveBeenApplied: true }),
        (e: any) => ({ code: e.code as string, mayHaveBeenApplied: e.mayHaveBeenApplied as boolean }),
      );
    }, `${user}:phone`);
    // The same page (or the page after a reload) starts a client on the same store; once connected it
    // writes, after whatever it found in the store (a device's writes to a document are applied in order),
    // so once the watcher holds its write, it holds any write of the store the next client sent.
    const last = await phone.evaluate(async (key) => {
      const t = (window as any).t;
      t.next = new t.m.HandoffClient({
        url: `ws://${location.host}/ws`,
        tokenSource: async () => (await (await fetch(`/demo/token?device=phone&user=${key.split(":")[0]}`)).json()).token,
        store: new t.m.IndexedDbStore(key),
      });
      await t.next.connect();
      return String(await t.next.document("cart").set("pen", "1"));
    }, `${user}:phone`);
    await watcher.waitForFunction((v) => String((window as any).t.client.document("cart").version) === v, last);
    const applied = (await deltasFrom(watcher, "cart", "phone")) - 1;
    console.log(`# closed client's error: ${JSON.stringify(error)}; deltas of it seen: ${applied}`);
    assert.equal(error.code, "CLIENT_CLOSED");
    if (applied > 0) assert.equal(error.mayHaveBeenApplied, true, "reported as certainly not applied, then applied");
    await phone.evaluate(() => (window as any).t.next.close());
    await watcher.close();
    await phone.close();
  });

  test("an IndexedDbStore whose database connection was closed under it opens it again, so a failed save is retried to success", async () => {
    const user = newUser();
    const key = `${user}:laptop`;
    const page = await openClient(user, "laptop", key);
    const result = await page.evaluate(async (key) => {
      const t = (window as any).t;
      await t.client.ready();
      // The connection ends under the client, as when the browser closes it (site data cleared) or
      // another page asks for a new version of the database.
      (await t.store.db).close();
      void t.client.document("cart").set("book", "1").catch(() => {});
      const stored = (): Promise<number> => t.storedWrites(key);
      const deadline = Date.now() + 10_000;
      while ((await stored()) !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const saved = (await stored()) === 1;
      await t.client.close();
      return { saved, errors: t.errors as string[] };
    }, key);
    assert.ok(result.errors.length > 0, "the save on the closed connection failed and was reported");
    assert.match(result.errors[0]!, /^STORE_FAILED: offline store save failed: InvalidStateError/);
    assert.ok(result.saved, `the write reached the store once the client saved again (${result.errors.length} saves failed)`);
    await page.close();
  });

  test("another page deletes or upgrades the IndexedDbStore's database while a client holds it open: neither waits for the client, whose later writes are still saved", async () => {
    const user = newUser();
    const key = `${user}:laptop`;
    const page = await openClient(user, "laptop", key);
    await page.evaluate(async () => {
      const t = (window as any).t;
      await t.client.ready();
      t.client.setOffline(true); // the writes stay queued, so every saved state holds them all
    });
    // What the store holds for the key: its queued writes, read from the database at whatever version it is.
    const storedWrites = (p: Page) =>
      p.evaluate(
        (key) =>
          new Promise<number>((done, failed) => {
            const open = indexedDB.open("handoff");
            open.onerror = () => failed(open.error);
            open.onsuccess = () => {
              const db = open.result;
              if (!db.objectStoreNames.contains("state")) return db.close(), done(-1);
              const get = db.transaction("state", "readonly").objectStore("state").get(key);
              get.onsuccess = () => {
                db.close();
                done(get.result?.writes.length ?? 0);
              };
            };
          }),
        key,
      );
    const write = async (field: string, expected: number) => {
      await page.evaluate((f) => void (window as any).t.client.document("cart").set(f, "1").catch(() => {}), field);
      const deadline = Date.now() + 10_000;
      while ((await storedWrites(page)) !== expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return storedWrites(page);
    };
    assert.equal(await write("book", 1), 1);

    // A newer version of the app in another tab deletes the database, then creates it at a higher version.
    const other = await context.newPage();
    await other.goto(`${node.http}/demo/handoff-client.js`);
    const deleted = await other.evaluate(
      () =>
        new Promise<string>((done) => {
          const del = indexedDB.deleteDatabase("handoff");
          del.onblocked = () => done("blocked by the client's open connection");
          del.onsuccess = () => done("deleted");
          del.onerror = () => done(`failed: ${del.error}`);
        }),
    );
    assert.equal(deleted, "deleted");
    assert.equal(await write("pen", 2), 2, "the client's next save writes its whole state again");

    const upgraded = await other.evaluate(
      () =>
        new Promise<string>((done) => {
          const open = indexedDB.open("handoff", 7);
          open.onblocked = () => done("blocked by the client's open connection");
          open.onupgradeneeded = () => open.result.createObjectStore("newer-app");
          open.onsuccess = () => {
            open.result.close();
            done(`version ${open.result.version}`);
          };
          open.onerror = () => done(`failed: ${open.error}`);
        }),
    );
    assert.equal(upgraded, "version 7");
    assert.equal(await write("cup", 3), 3, "the client saves at the database's new version");
    const errors = await page.evaluate(async () => {
      const t = (window as any).t;
      await t.client.close();
      return t.errors as string[];
    });
    assert.deepEqual(errors, [], "no save failed");
    await other.close();
    await page.close();
  });

  test("a save whose upgrade (adding the state store) another page's open connection blocks fails instead of waiting, and close() does not wait for it", async () => {
    const user = newUser();
    const key = `${user}:laptop`;
    const databaseName = `blocked-${user}`;
    const page = await context.newPage();
    await page.goto(`${node.http}/demo/handoff-client.js`);
    await page.evaluate(
      async ([key, databaseName]) => {
        const m = await import("/demo/handoff-client.js" as string);
        const client = new m.HandoffClient({ url: `ws://${location.host}/ws`, token: "unused", store: new m.IndexedDbStore(key, databaseName) });
        const errors: string[] = [];
        client.on("error", (e: any) => errors.push(`${e.code}: ${e.message}`));
        await client.ready(); // the database is open
        (window as any).t = { client, errors };
      },
      [key, databaseName] as const,
    );
    // A newer app in another page moves the database to a schema without the state store, and keeps its
    // connection open without listening for versionchange (as most pages do).
    const other = await context.newPage();
    await other.goto(`${node.http}/demo/handoff-client.js`);
    const upgraded = await other.evaluate(
      (databaseName) =>
        new Promise<string>((done) => {
          const open = indexedDB.open(databaseName, 5);
          open.onblocked = () => done("blocked by the client's open connection");
          open.onupgradeneeded = () => {
            open.result.deleteObjectStore("state");
            open.result.createObjectStore("newer-app");
          };
          open.onsuccess = () => {
            (window as any).db = open.result;
            done(`version ${open.result.version}`);
          };
          open.onerror = () => done(`failed: ${open.error}`);
        }),
      databaseName,
    );
    assert.equal(upgraded, "version 5");
    const outcome = await page.evaluate(async () => {
      const t = (window as any).t;
      const written = t.client
        .document("cart")
        .set("pen", "1")
        .then(
          () => "acked",
          (e: any) => e.code as string,
        );
      const deadline = Date.now() + 10_000;
      while (t.errors.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const closed = await Promise.race([
        t.client.close().then(() => "closed"),
        new Promise<string>((r) => setTimeout(() => r("close() still waiting for the save"), 5_000)),
      ]);
      return { errors: t.errors as string[], closed, written: await Promise.race([written, "unsettled"]) };
    });
    assert.match(outcome.errors[0] ?? "no error", /^STORE_FAILED: offline store save failed: .*blocked/);
    assert.equal(outcome.closed, "closed");
    assert.equal(outcome.written, "STORE_FAILED", "the store did not keep the write");
    // Once the other page closes its connection, the database holds the state store again (the blocked upgrade went on).
    const stores = await other.evaluate(async (databaseName) => {
      (window as any).db.close();
      for (;;) {
        const names = await new Promise<string[]>((done) => {
          const open = indexedDB.open(databaseName);
          open.onsuccess = () => {
            done([...open.result.objectStoreNames].sort());
            open.result.close();
          };
        });
        if (names.includes("state")) return names;
        await new Promise((r) => setTimeout(r, 20));
      }
    }, databaseName);
    assert.deepEqual(stores, ["newer-app", "state"]);
    await other.close();
    await page.close();
  });

  test("a reconnect waiting out its backoff goes at once when the browser says the network is back", async () => {
    const page = await context.newPage();
    await page.goto(`${node.http}/demo/handoff-client.js`);
    const waited = await page.evaluate(async (user) => {
      const m = await import("/demo/handoff-client.js" as string);
      Math.random = () => 0.999; // the backoff's jitter: its wait is the two minutes, far past the test's
      const client = new m.HandoffClient({
        url: `ws://${location.host}/ws`,
        tokenSource: async () => (await (await fetch(`/demo/token?device=phone&user=${user}`)).json()).token as string,
        reconnect: { initialMs: 120_000, maxMs: 120_000 },
      });
      await client.connect();
      let dropped!: () => void;
      const waiting = new Promise<void>((r) => (dropped = r));
      const back = new Promise<number>((r) =>
        client.on("state", (s: string) => {
          if (s === "reconnecting") dropped();
          if (s === "connected") r(performance.now());
        }),
      );
      client.dropConnection(); // Its reconnect now waits out its backoff: two minutes.
      await waiting;
      const start = performance.now();
      window.dispatchEvent(new Event("online"));
      const at = await Promise.race([back, new Promise<number>((r) => setTimeout(() => r(-1), 20_000))]);
      await client.close();
      return at < 0 ? -1 : at - start;
    }, newUser());
    assert.ok(waited >= 0 && waited < 10_000, `connected again ${waited} ms after the online event`);
    await page.close();
  });

  test("a fixed access token that has expired stops the client with 4502 instead of reconnecting for ever", async () => {
    const page = await context.newPage();
    await page.goto(`${node.http}/demo/handoff-client.js`);
    const outcome = await page.evaluate(async (token) => {
      const m = await import("/demo/handoff-client.js" as string);
      const client = new m.HandoffClient({ url: `ws://${location.host}/ws`, token, reconnect: { initialMs: 50, maxMs: 200 } });
      const settled = client.connect().then(
        () => "connected",
        (e: { code: string; closeCode?: number; message: string }) => `${e.code} ${e.closeCode} ${e.message}`,
      );
      const result = await Promise.race([settled, new Promise<string>((r) => setTimeout(() => r("still trying"), 10_000))]);
      await client.close();
      return result;
    }, mintToken(newUser(), "tv", -3600));
    assert.match(outcome, /^CLOSED 4502 .*the access token cannot be used: it expired at .*give tokenSource/);
    await page.close();
  });
});
