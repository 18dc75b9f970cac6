// The browser client in a real page's lifecycle: the network going away, coming back and changing, the
// page hidden and shown again, and going into the back/forward cache and coming back from it. Debian's
// Chromium (playwright-core, with the back/forward cache on) loads the bundle from a plain page of a test
// origin that the cache may keep (the demo node serves its pages with `no-store`, which keeps them out of
// it), against the real server jar, with a heartbeat of ten minutes: only the page's events can explain a
// connection given up or made within the tests' deadlines.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { resolve } from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { launchChromium } from "./chromium.js";
import { client, closeClients, mintToken, type Node, ROOT, startNode, startRelay, until, user } from "./harness.js";

let node: Node;
let context: BrowserContext;
let site: Server;
let origin: string;
before(async () => {
  // Both at once; what did start is stopped by `after` when the other did not.
  const [launched, started] = await Promise.allSettled([launchChromium({ backForwardCache: true }), startNode(["--heartbeat", "10m"])]);
  if (launched.status === "fulfilled") context = launched.value.browser;
  if (started.status === "fulfilled") node = started.value;
  for (const r of [launched, started]) if (r.status === "rejected") throw r.reason;
  const bundle = readFileSync(resolve(ROOT, "client-js", "dist", "handoff-client.min.js"));
  // The app's origin: the bundle, a token for ?user=&device=, and any other path as a plain page.
  site = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://site");
    if (url.pathname === "/handoff-client.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(bundle);
    } else if (url.pathname === "/token") {
      const token = mintToken(url.searchParams.get("user")!, url.searchParams.get("device")!);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token }));
    } else {
      res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><title>${url.pathname}</title>`);
    }
  });
  await new Promise<void>((r) => site.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(site.address() as { port: number }).port}`;
});
afterEach(closeClients);
after(async () => {
  await context?.close();
  site?.closeAllConnections();
  site?.close();
  await node?.stop();
});

/**
 * A page of the app's origin with a client of `user`'s phone following "player" as `window.t`, connected
 * and synced (with an `IndexedDbStore` of `storeKey` if given, and `extra` options; `connected` false: its
 * connect() called and not waited for); its reconnects wait a minute (the page's `Math.random`, which only
 * the backoff's jitter reads, pinned near 1), so only the browser's events can bring it back sooner.
 * `t.states` lists its states and why, `t.tokens()` how many tokens it fetched (one per attempt).
 */
async function openPhone(
  u: string,
  storeKey?: string,
  extra: { url?: string; heartbeatMarginMs?: number } = {},
  connected = true,
): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.log(`# phone page error: ${e.message}`));
  await page.goto(`${origin}/app`);
  await page.evaluate(
    async ([ws, u, key, extra, connected]) => {
      const m = await import("/handoff-client.js" as string);
      Math.random = () => 0.999;
      let tokens = 0;
      const client = new m.HandoffClient({
        ...extra,
        url: extra.url ?? ws,
        tokenSource: async () => {
          tokens++;
          return (await (await fetch(`/token?device=phone&user=${u}`)).json()).token as string;
        },
        follow: { documents: ["player"] },
        reconnect: { initialMs: 60_000, maxMs: 60_000 },
        store: key ? new m.IndexedDbStore(key) : undefined,
      });
      const log: string[] = [];
      const shown: boolean[] = [];
      const states: string[] = [];
      client.on("change", (c: any) => log.push(`${c.kind} v${c.version}`));
      client.on("state", (s: string, _code: number, why: string) => states.push(`${s}: ${why}`));
      addEventListener("pageshow", (e) => shown.push(e.persisted));
      (window as any).t = { client, log, shown, states, tokens: () => tokens };
      const synced = new Promise<void>((r) => client.on("synced", r));
      const connecting = client.connect();
      if (!connected) return void connecting.catch(() => {});
      await connecting;
      await synced;
    },
    [node.url, u, storeKey, extra, connected] as const,
  );
  return page;
}

const state = (page: Page) => page.evaluate(() => (window as any).t?.client.state as string | undefined);

describe("the browser client in a page's lifecycle", () => {
  test("going offline drops the connection at once, and coming back online reconnects at once and sends what was written meanwhile", async () => {
    const u = user("offline");
    const page = await openPhone(u);
    const tv = client(node, u, "tv", { follow: { documents: ["player"] } });
    await tv.connect();
    // Chromium keeps the open socket when the network goes (as it does for a real one, whose loss only the
    // heartbeat would notice, a minute later): the client drops it on the `offline` event.
    await context.setOffline(true);
    await page.waitForFunction(() => (window as any).t.client.state === "reconnecting", null, { timeout: 10_000 });
    const written = page.evaluate(() => (window as any).t.client.document("player").set("position", "offline").then(String));
    await context.setOffline(false);
    // Its backoff waits up to a minute; the `online` event reconnects it now, and the queued write goes.
    await page.waitForFunction(() => (window as any).t.client.state === "connected", null, { timeout: 10_000 });
    assert.equal(await written, "1");
    await page.close();
  });

  test("an attempt under way when the network comes back that then fails is followed by another at once, not after the backoff", async () => {
    const relay = await startRelay(node);
    try {
      const page = await openPhone(user("online-attempt"), undefined, { url: relay.url });
      // An attempt under way: the relay takes its connection and carries nothing.
      relay.hold = true;
      await page.evaluate(() => {
        const c = (window as any).t.client;
        c.setOffline(true);
        c.setOffline(false);
      });
      await until("the attempt reached the relay", () => relay.held() === 1);
      // Chromium's emulated offline fails a new socket at once (a real network's may hang for long): the
      // attempt under way is the relay's, and the page dispatches the browser's `online` event itself.
      await page.evaluate(() => dispatchEvent(new Event("online")));
      relay.hold = false;
      relay.release();
      // The next attempt goes at once, not up to a minute later.
      await page.waitForFunction(() => (window as any).t.client.state === "connected", null, { timeout: 10_000 });
      await page.close();
    } finally {
      relay.close();
    }
  });

  test("a page shown again checks its connection: one that died unheard while hidden is given up within the margin and made again at once", async () => {
    const relay = await startRelay(node);
    try {
      const page = await openPhone(user("shown"), undefined, { url: relay.url, heartbeatMarginMs: 1_000 });
      relay.cut();
      // Headless Chromium keeps every page visible: the page is hidden and shown as the browser would say it.
      await page.evaluate(() => {
        for (const visibility of ["hidden", "visible"]) {
          Object.defineProperty(document, "visibilityState", { value: visibility, configurable: true });
          document.dispatchEvent(new Event("visibilitychange", { bubbles: true }));
        }
      });
      // Given up, and connected again at once through the relay (which carries new connections), not a minute later.
      await page.waitForFunction(() => (window as any).t.states.filter((s: string) => s.startsWith("connected")).length === 2, null, {
        timeout: 10_000,
      });
      const states: string[] = await page.evaluate(() => (window as any).t.states);
      assert.deepEqual(states.slice(-2), ["reconnecting: the page was shown again, and a ping had no answer within 1000 ms", "connected: "]);
      await page.close();
    } finally {
      relay.close();
    }
  });

  test("a network change the browser does not report as offline checks the connection, and one found dead is made again at once", async () => {
    const relay = await startRelay(node);
    try {
      const page = await openPhone(user("changed"), undefined, { url: relay.url, heartbeatMarginMs: 1_000 });
      relay.cut();
      // Another network (as from Wi-Fi to cellular): Chromium's `navigator.connection` says it changed.
      const cdp = await context.newCDPSession(page);
      await cdp.send("Network.enable");
      await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 400, downloadThroughput: 50_000, uploadThroughput: 50_000 });
      // Given up, and connected again at once through the relay (which carries new connections), not a minute later.
      await page.waitForFunction(() => (window as any).t.states.filter((s: string) => s.startsWith("connected")).length === 2, null, {
        timeout: 10_000,
      });
      const states: string[] = await page.evaluate(() => (window as any).t.states);
      assert.deepEqual(states.slice(-2), ["reconnecting: the network changed, and a ping had no answer within 1000 ms", "connected: "]);
      await page.close();
    } finally {
      relay.close();
    }
  });

  test("a page restored from the back/forward cache reconnects and resumes with only the deltas it missed", async () => {
    const u = user("bfcache");
    const page = await openPhone(u);
    const tv = client(node, u, "tv", { follow: { documents: ["player"] } });
    await tv.connect();
    const player = tv.document("player");
    await player.set("position", "1");
    await page.waitForFunction(() => (window as any).t.log.includes("delta v1"), null, { timeout: 10_000 });
    await page.goto(`${origin}/elsewhere`);
    await player.set("position", "2");
    await player.set("position", "3");
    // An open WebSocket keeps a page out of the cache: the client closed its own on `pagehide`.
    await page.goBack({ waitUntil: "commit" });
    await page.waitForFunction(() => (window as any).t?.log.includes("delta v3"), null, { timeout: 10_000 });
    const restored = await page.evaluate(() => {
      const t = (window as any).t;
      return { shown: t.shown, log: t.log, state: t.client.state };
    });
    assert.deepEqual(restored, { shown: [true], log: ["delta v1", "delta v2", "delta v3"], state: "connected" });
    await page.close();
  });

  test("a page restored from the back/forward cache while its client waits for its store's key connects only once it holds the key", async () => {
    const u = user("bfcache-waiting");
    const first = await openPhone(u, `${u}:phone`);
    // Another tab of the device: its client waits in connect() for the key the first tab's holds.
    const second = await openPhone(u, `${u}:phone`, {}, false);
    await second.goto(`${origin}/elsewhere`);
    await second.goBack({ waitUntil: "commit" });
    await second.waitForFunction(() => (window as any).t?.shown.includes(true), null, { timeout: 10_000 });
    // An attempt fetches its token a microtask after it starts: by the next task, one made on `pageshow` has.
    const tokens = await second.evaluate(async () => {
      await new Promise((r) => setTimeout(r, 0));
      return (window as any).t.tokens() as number;
    });
    assert.equal(tokens, 0, "no connection before the client read its store");
    // The first tab's client closes and gives the key back: the second reads the state and connects.
    await first.evaluate(() => (window as any).t.client.close());
    await second.waitForFunction(() => (window as any).t.client.state === "connected", null, { timeout: 10_000 });
    const states: string[] = await first.evaluate(() => (window as any).t.states);
    assert.deepEqual(states, ["connecting: ", "connected: ", "closed: closed by the client"], "no connection replaced the first tab's");
    await second.close();
    await first.close();
  });

  test("a page in the back/forward cache does not keep its store's key from another tab of the device", async () => {
    const u = user("bfcache-key");
    const first = await openPhone(u, `${u}:phone`);
    await first.goto(`${origin}/elsewhere`); // Kept in the cache, its client holding the key's Web Lock.
    // The new tab's client waits for the key (an exclusive Web Lock): the browser takes the cached page
    // out of the cache for it, as it would close it.
    let timer: NodeJS.Timeout | undefined;
    const second = await Promise.race([
      openPhone(u, `${u}:phone`),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("the new tab still waits for the key")), 10_000))),
    ]).finally(() => clearTimeout(timer));
    assert.equal(await state(second), "connected");
    // The first page had been cached, and left the cache for the key alone.
    await first.goBack({ waitUntil: "load" });
    const reasons = await first.evaluate(() =>
      ((performance.getEntriesByType("navigation")[0] as any).notRestoredReasons?.reasons ?? []).map((r: any) => r.reason),
    );
    assert.deepEqual(reasons, ["weblocks-contention"]);
    await second.close();
    await first.close();
  });
});
