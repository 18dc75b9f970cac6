// The demo in real headless Chromium (Debian's chromium, driven by playwright-core): two pages are
// two devices of one user, against the real server jar running with the development secret.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { BrowserContext, Page } from "playwright-core";
import { CHROMIUM, launchChromium, startDemoNode } from "./chromium.js";
import type { Node } from "./harness.js";
import { helloInRequest, helloRead, sentKinds, startRecordingRelay } from "./recording-relay.js";

let node: Node;
let context: BrowserContext;
before(async () => {
  // Both at once; what did start is stopped by `after` when the other did not.
  const [launched, started] = await Promise.allSettled([launchChromium(), startDemoNode()]);
  if (launched.status === "fulfilled") {
    context = launched.value.browser;
    console.log(`# browser: Chromium ${launched.value.version} (${CHROMIUM})`);
  }
  if (started.status === "fulfilled") node = started.value;
  for (const r of [launched, started]) if (r.status === "rejected") throw r.reason;
});
after(async () => {
  await context?.close();
  await node?.stop();
});

async function open(device: string): Promise<Page> {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.log(`# ${device} page error: ${e.message}`));
  page.on("console", (m) => m.type() !== "log" && console.log(`# ${device} console ${m.type()}: ${m.text()}`));
  await page.goto(`${node.http}/demo/?device=${device}`);
  await waitConnected(page);
  return page;
}

const waitConnected = (page: Page) =>
  page.waitForFunction(() => (window as any).demo?.client.state === "connected", null, { timeout: 15_000 });

const deltasFrom = (page: Page, doc: string, origin: string) =>
  page.evaluate(
    ([d, o]) => (window as any).demo.log.filter((c: any) => c.kind === "delta" && c.document === d && c.origin === o).length,
    [doc, origin],
  );

describe("demo in Chromium", () => {
  test("continue on another device: the other window accepts and resumes at the same position", async () => {
    const phone = await open("phone");
    const laptop = await open("laptop");
    await phone.waitForSelector("#presence li.online:has-text('laptop')");

    await phone.locator("#position").fill("125");
    await phone.locator("#position").dispatchEvent("change");
    await laptop.waitForFunction(() => document.getElementById("position-label")?.textContent === "2:05");
    await phone.locator("#form-name").fill("Ada");
    await laptop.waitForFunction(() => (document.getElementById("form-name") as HTMLInputElement).value === "Ada");

    await phone.click("#continue");
    await laptop.waitForSelector("#prompt:not([hidden])");
    assert.equal(await laptop.textContent("#prompt-from"), "phone");
    await laptop.click("#accept");
    await laptop.waitForSelector("#notice:has-text('Continued from phone at 2:05')");
    await phone.waitForSelector("#offer-status:has-text('accepted by laptop')");
    await phone.close();
    await laptop.close();
  });

  test("a page that goes offline, writes, is reloaded and comes back delivers each write exactly once", async () => {
    const watcher = await open("watcher");
    const away = await open("away");
    const before = await watcher.evaluate(() => (window as any).demo.client.document("cart").version as bigint);

    await away.check("#offline");
    await away.waitForFunction(() => (window as any).demo.client.offline === true);
    for (const item of ["book", "pen", "book"]) await away.click(`[data-item=${item}]`);
    await away.waitForSelector("#pending:has-text('3 pending')");
    await away.reload();
    // Still offline after the reload (the toggle is kept by the tab); the writes came back from IndexedDB.
    await away.waitForFunction(() => (window as any).demo?.client.offline === true);
    await away.waitForSelector("#pending:has-text('3 pending')");
    assert.equal(await deltasFrom(watcher, "cart", "away"), 0, "nothing left while offline");

    await away.uncheck("#offline");
    await away.waitForSelector("#pending:has-text('0 pending')", { timeout: 15_000 });
    await watcher.waitForFunction(
      (v) => (window as any).demo.client.document("cart").version === v + 3n,
      before,
      { timeout: 15_000 },
    );
    assert.equal(await deltasFrom(watcher, "cart", "away"), 3, "each of the three writes once");
    const cart = await watcher.evaluate(() => {
      const c = (window as any).demo.client.document("cart");
      return { book: c.getString("book"), pen: c.getString("pen"), version: String(c.version) };
    });
    assert.deepEqual({ book: cart.book, pen: cart.pen }, { book: "2", pen: "1" });
    await watcher.close();
    await away.close();
  });

  test("a page without a session signs in with a device code that another page approves", async () => {
    const phone = await open("approver");
    const tv = await context.newPage();
    await tv.goto(`${node.http}/demo/handoff-client.js`); // Any page of the server's origin.
    const userCode = await tv.evaluate(async () => {
      const m = await import("/demo/handoff-client.js" as string);
      const signIn = new m.DeviceSignIn(location.origin);
      const code = await signIn.requestCode({ deviceId: "chromium-tv", name: "Chromium TV", platform: "web" });
      (window as any).session = signIn.awaitApproval(code);
      return code.userCode as string;
    });
    const asked = await phone.evaluate(async (c) => {
      const approvals = (window as any).demo.client.approvals;
      const r = await approvals.verifyUserCode(c);
      return { name: r.deviceName, platform: r.platform, outcome: await approvals.answer(r.approvalId, true) };
    }, userCode);
    assert.deepEqual(asked, { name: "Chromium TV", platform: "web", outcome: 1 });
    const session = await tv.evaluate(async () => {
      const s = await (window as any).session;
      return { userId: s.userId, deviceId: s.deviceId, expires: typeof s.accessExpiresAtMs, token: s.accessToken.length > 0 };
    });
    const user = await phone.evaluate(() => (window as any).demo.client.userId as string);
    assert.deepEqual(session, { userId: user, deviceId: "chromium-tv", expires: "bigint", token: true });
    await phone.close();
    await tv.close();
  });

  test("a reconnect sends its Hello in the upgrade (query parameter and subprotocol) once a Welcome said the node reads it", async () => {
    const relay = await startRecordingRelay(node);
    const page = await context.newPage();
    try {
      await page.goto(`${node.http}/demo/handoff-client.js`); // Any page of the server's origin.
      const u = `early-${Date.now()}`;
      await page.evaluate(
        async ([relayUrl, nodeUrl, u]) => {
          const m = await import("/demo/handoff-client.js" as string);
          const token = (device: string) => async () =>
            (await (await fetch(`/demo/token?device=${device}&user=${u}`)).json()).token as string;
          const reconnect = { initialMs: 50, maxMs: 500 };
          const phone = new m.HandoffClient({ url: relayUrl, tokenSource: token("phone"), reconnect });
          const tv = new m.HandoffClient({ url: nodeUrl, tokenSource: token("tv"), reconnect });
          const changes: string[] = [];
          phone.on("change", (c: any) => changes.push(`${c.kind} ${c.version}`));
          (window as any).early = { phone, tv, changes };
          await Promise.all([phone.connect(), tv.connect()]);
          await phone.document("d").set("f", "1");
          phone.setOffline(true);
          await tv.document("d").set("f", "2");
          changes.length = 0;
          phone.setOffline(false);
        },
        [relay.url, node.url, u],
      );
      await page.waitForFunction(
        () => (window as any).early.phone.state === "connected" && (window as any).early.phone.document("d").version === 2n,
        null,
        { timeout: 15_000 },
      );
      const after = await page.evaluate(async () => {
        const { phone, tv, changes } = (window as any).early;
        const resumedWith = [...changes];
        const version = String(await phone.document("d").set("f", "3"));
        await Promise.all([phone.close(), tv.close()]);
        return { changes: resumedWith, version };
      });
      assert.deepEqual(after, { changes: ["delta 2"], version: "3" }, "resumed from v1 with the delta, then wrote");

      const [first, resumed] = relay.connections;
      assert.equal(helloInRequest(first.request), undefined, "no Hello in the first upgrade");
      assert.equal(sentKinds(first)[0], "hello");
      assert.match(resumed.request, /^GET \/ws\?access_token=[^ ]*&hello=/, "the Hello in the query, beside the token");
      assert.match(resumed.request, /^sec-websocket-protocol: handoff\.hello$/im);
      const hello = helloInRequest(resumed.request);
      assert.ok(hello?.body.case === "hello");
      assert.deepEqual(hello.body.value.positions.map((p) => [p.document, p.version]), [["d", 1n]]);
      assert.ok(helloRead(resumed), `the node's 101 selects handoff.hello:\n${resumed.response}`);
      assert.ok(!sentKinds(resumed).includes("hello"), "no Hello frame on the reconnect");
    } finally {
      await page.close();
      relay.close();
    }
  });

  test("a browser whose upgrade carrying the Hello fails (101 without the subprotocol) reconnects with the Hello as a frame", async () => {
    const relay = await startRecordingRelay(node);
    const page = await context.newPage();
    try {
      await page.goto(`${node.http}/demo/handoff-client.js`);
      await page.evaluate(
        async ([relayUrl, u]) => {
          const m = await import("/demo/handoff-client.js" as string);
          const phone = new m.HandoffClient({
            url: relayUrl,
            tokenSource: async () => (await (await fetch(`/demo/token?device=phone&user=${u}`)).json()).token as string,
            reconnect: { initialMs: 50, maxMs: 500 },
          });
          (window as any).early = phone;
          await phone.connect();
        },
        [relay.url, `old-${Date.now()}`],
      );
      relay.mode = "old"; // As a node rolled back to a version without the feature.
      await page.evaluate(() => (window as any).early.dropConnection());
      await page.waitForFunction(() => (window as any).early.state === "connected", null, { timeout: 15_000 });
      const version = await page.evaluate(async () => {
        const phone = (window as any).early;
        const v = String(await phone.document("d").set("f", "1"));
        await phone.close();
        return v;
      });
      assert.equal(version, "1");
      const [, failed, fallback] = relay.connections;
      assert.ok(helloInRequest(failed.request), "the attempt after the drop carried the Hello");
      assert.match(failed.response, /^HTTP\/1\.1 101/);
      assert.ok(!helloRead(failed) && sentKinds(failed).length === 0, "Chromium failed the upgrade without the subprotocol");
      assert.equal(helloInRequest(fallback.request), undefined, "the next attempt did not");
      assert.equal(sentKinds(fallback)[0], "hello", "and sent its Hello as a frame");
    } finally {
      await page.close();
      relay.close();
    }
  });
});
