// The client against one real server node (the jar, on a free port), shared by the tests of this file:
// documents, writes, offers and presence (tokens, the Hello's follow set and IPv6 are in hello.test.ts, so
// that the two run side by side).
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import WebSocket from "ws";
import { ClientFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import {
  bearerWebSocket,
  type DocumentChange,
  HandoffClient,
  HandoffError,
  MemoryStore,
  OfferOutcome,
  type StoredState,
  type WebSocketLike,
} from "../src/index.js";
import { client, closeClients, freePort, mintToken, type Node, startNode, text, until, user } from "./harness.js";

let node: Node;
before(async () => {
  node = await startNode(["--history-length", "4"]);
});
// The tests run side by side, each with users of its own, so their clients are closed after the file
// rather than after each test.
after(async () => {
  await closeClients();
  await node?.stop();
});

describe("one node", { concurrency: true }, () => {
  test("given several endpoints, a client moves past one that refuses to the next and works there", async () => {
    const dead = `ws://127.0.0.1:${await freePort()}/ws`;
    const u = user("endpoints");
    const phone = client(node, u, "phone", { url: undefined, urls: [dead, node.url] });
    const tv = client(node, u, "tv", { url: undefined, urls: [dead, dead, node.url] });
    const seen: DocumentChange[] = [];
    tv.on("change", (c) => c.kind === "delta" && seen.push(c));
    await Promise.all([phone.connect(), tv.connect()]);

    const version = await phone.document("player").set("position", "0:42");

    assert.equal(version, 1n);
    await until("the other device got the delta", () => seen.length === 1);
    assert.equal(text(seen[0].ops[0].value), "0:42");
    await Promise.all([phone.close(), tv.close()]);
  });

  test("a client needs exactly one of url and urls, each a ws:// or wss:// endpoint", () => {
    const token = mintToken(user("options"), "phone");
    for (const bad of [{}, { url: node.url, urls: [node.url] }, { urls: [] }, { urls: [node.url, "http://x/ws"] }]) {
      assert.throws(
        () => new HandoffClient({ token, ...bad }),
        (e: unknown) => e instanceof HandoffError && e.code === "INVALID_ARGUMENT",
        JSON.stringify(bad),
      );
    }
  });

  test("a write fans out to every other device of the user once", async () => {
    const u = user("fanout");
    const [phone, tv, laptop] = ["phone", "tv", "laptop"].map((d) => client(node, u, d));
    const seen = { tv: [] as DocumentChange[], laptop: [] as DocumentChange[] };
    tv.on("change", (c) => c.kind === "delta" && seen.tv.push(c));
    laptop.on("change", (c) => c.kind === "delta" && seen.laptop.push(c));
    const stranger = client(node, user("stranger"), "tv");
    const strangerSaw: DocumentChange[] = [];
    stranger.on("change", (c) => strangerSaw.push(c));
    await Promise.all([phone.connect(), tv.connect(), laptop.connect(), stranger.connect()]);

    const version = await phone.document("player").set("position", "1:02:03");

    assert.equal(version, 1n);
    await until("both devices got the delta", () => seen.tv.length === 1 && seen.laptop.length === 1);
    for (const c of [seen.tv[0], seen.laptop[0]]) {
      assert.equal(c.version, 1n);
      assert.equal(c.originDevice, "phone");
      assert.equal(text(c.ops[0].value), "1:02:03");
    }
    assert.equal(tv.document("player").getString("position"), "1:02:03");
    assert.equal(phone.document("player").version, 1n);
    await phone.document("player").set("position", "1:02:04");
    await until("second delta", () => seen.tv.length === 2 && seen.laptop.length === 2);
    assert.deepEqual(seen.tv.map((c) => c.version), [1n, 2n]);
    assert.equal(strangerSaw.length, 0, "another user's device sees nothing");
    await Promise.all([phone, tv, laptop, stranger].map((c) => c.close()));
  });

  test("interleaved writes of two devices arrive in order, without gaps, each device's in its own order", async () => {
    const u = user("order");
    const a = client(node, u, "a");
    const b = client(node, u, "b");
    const watcher = client(node, u, "watcher");
    const versions: bigint[] = [];
    const byOrigin: Record<string, number[]> = { a: [], b: [] };
    watcher.on("change", (c) => {
      if (c.kind !== "delta") return;
      versions.push(c.version);
      byOrigin[c.originDevice!].push(Number(text(c.ops[0].value)));
    });
    await Promise.all([a.connect(), b.connect(), watcher.connect()]);
    const n = 50;
    const writes: Promise<bigint>[] = [];
    for (let i = 0; i < n; i++) {
      writes.push(a.document("counter").set("a", String(i)));
      writes.push(b.document("counter").set("b", String(i)));
    }
    const acked = await Promise.all(writes);

    assert.equal(new Set(acked).size, 2 * n, "every write got its own version");
    await until("all deltas", () => versions.length === 2 * n);
    assert.deepEqual(versions, Array.from({ length: 2 * n }, (_, i) => BigInt(i + 1)));
    const inOrder = Array.from({ length: n }, (_, i) => i);
    assert.deepEqual(byOrigin.a.map((v, i) => (v === undefined ? i : v)).length, n);
    assert.deepEqual(byOrigin.a, inOrder);
    assert.deepEqual(byOrigin.b, inOrder);
    await Promise.all([a, b, watcher].map((c) => c.close()));
  });

  test("a device that was away resumes with deltas, and with a snapshot when history no longer reaches back", async () => {
    const u = user("resume");
    const writer = client(node, u, "writer");
    const reader = client(node, u, "reader");
    const kinds: string[] = [];
    let synced = 0;
    reader.on("change", (c) => kinds.push(`${c.kind}:${c.version}`));
    reader.on("synced", () => synced++);
    await Promise.all([writer.connect(), reader.connect()]);
    const doc = writer.document("cart");
    await doc.set("item1", "book");
    await until("reader has v1", () => reader.document("cart").version === 1n);

    reader.setOffline(true);
    await doc.set("item2", "pen");
    await doc.set("item3", "ink");
    kinds.length = 0;
    reader.setOffline(false);
    await until("reader resumed to v3", () => reader.document("cart").version === 3n && synced === 2);
    assert.deepEqual(kinds, ["delta:2", "delta:3"], "only the missed versions, as deltas");

    reader.setOffline(true);
    for (let i = 4; i <= 10; i++) await doc.set(`item${i}`, `thing ${i}`);
    await doc.remove("item2");
    kinds.length = 0;
    reader.setOffline(false);
    await until("reader resumed to v11", () => reader.document("cart").version === 11n && synced === 3);
    assert.deepEqual(kinds, ["snapshot:11"], "history of 4 versions does not reach back to v3");
    assert.equal(reader.document("cart").get("item2"), undefined);
    assert.equal(reader.document("cart").getString("item10"), "thing 10");
    assert.equal(reader.document("cart").fields().size, 9);
    await Promise.all([writer.close(), reader.close()]);
  });

  test("a write re-sent after a lost connection is applied once", async () => {
    const u = user("retry");
    const watcher = client(node, u, "watcher");
    const deltas: DocumentChange[] = [];
    watcher.on("change", (c) => c.kind === "delta" && deltas.push(c));
    const phone = client(node, u, "phone");
    await Promise.all([watcher.connect(), phone.connect()]);

    // Cut the connection right after the write left: the client re-sends it with the same
    // client_seq, and the server applies it once, whichever side of the cut it arrived on.
    const written = phone.document("form").set("name", "Ada");
    phone.dropConnection();
    assert.equal(await written, 1n);
    assert.equal(await phone.document("form").set("name", "Ada L."), 2n);
    await until("watcher has v2", () => watcher.document("form").version === 2n);
    assert.deepEqual(deltas.map((d) => [d.version, d.originSeq]), [[1n, 1n], [2n, 2n]]);
    await Promise.all([watcher.close(), phone.close()]);
  });

  test("a page reloaded after sending a write but before its ack re-sends it and it is applied once", async () => {
    const u = user("reload");
    // Stands for IndexedDB: it keeps every state the client saved, and the client waits for it.
    const saved: StoredState[] = [];
    class RecordingStore extends MemoryStore {
      override readonly durable = true;
      override async save(state: StoredState): Promise<void> {
        saved.push(structuredClone(state));
        await super.save(state);
      }
    }
    const before = client(node, u, "phone", { store: new RecordingStore() });
    await before.connect();
    assert.equal(await before.document("form").edit().set("email", "ada@example.com").commit(), 1n);
    await before.close();
    // The state as saved just before the write was sent: numbered, not yet acked.
    const inFlight = saved.find((s) => s.writes.length === 1 && s.writes[0].seq === 1n);
    assert.ok(inFlight, "the write's number was saved before it was sent");

    const reloadedStore = new RecordingStore();
    await reloadedStore.save(inFlight);
    const reloaded = client(node, u, "phone", { store: reloadedStore });
    const changes: DocumentChange[] = [];
    reloaded.on("change", (c) => changes.push(c));
    await reloaded.ready();
    assert.equal(reloaded.pendingWrites, 1, "the unacked write came back from the store");
    await reloaded.connect();
    await until("the re-sent write is acked", () => reloaded.pendingWrites === 0);

    const checker = client(node, u, "checker");
    await checker.connect();
    await until("checker synced", () => checker.document("form").version > 0n);
    assert.equal(checker.document("form").version, 1n, "applied once: still one version");
    assert.equal(checker.document("form").getString("email"), "ada@example.com");
    assert.equal(reloaded.document("form").version, 1n);
    await Promise.all([reloaded.close(), checker.close()]);
  });

  test("a conditional write on a moved document is refused with CONFLICT and the current version", async () => {
    const u = user("conflict");
    const a = client(node, u, "a");
    await a.connect();
    const doc = a.document("draft/42");
    await doc.set("title", "first");
    await doc.set("title", "second");
    const refused = doc.edit().set("title", "stale").expectVersion(1n).commit();
    await assert.rejects(refused, (e: unknown) => {
      assert.ok(e instanceof HandoffError);
      assert.equal(e.code, "CONFLICT");
      assert.equal(e.currentVersion, 2n);
      return true;
    });
    assert.equal(await doc.edit().set("title", "third").remove("gone").expectVersion(2n).commit(), 3n);
    assert.equal(doc.getString("title"), "third");
    await a.close();
  });

  test("of two devices accepting one offer exactly one wins", async () => {
    const u = user("race");
    const phone = client(node, u, "phone");
    const tv = client(node, u, "tv");
    const laptop = client(node, u, "laptop");
    await Promise.all([phone.connect(), tv.connect(), laptop.connect()]);
    await phone.document("player").set("position", "42");
    const prompted = Promise.all(
      [tv, laptop].map((c) => new Promise<string>((ok) => c.on("prompt", (o) => ok(o.offerId)))),
    );
    const offer = phone.offer({ document: "player", kind: "video", title: "Episode 3" });
    const created = await offer.created;
    const ids = await prompted;
    assert.deepEqual(ids, [created.offerId, created.offerId]);

    const outcomes = await Promise.allSettled([tv.accept(created.offerId), laptop.accept(created.offerId)]);
    const won = outcomes.filter((o) => o.status === "fulfilled");
    const lost = outcomes.filter((o) => o.status === "rejected");
    assert.equal(won.length, 1, "exactly one winner");
    assert.equal(lost.length, 1);
    assert.equal(((lost[0] as PromiseRejectedResult).reason as HandoffError).code, "OFFER_WITHDRAWN");
    const granted = (won[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof tv.accept>>>).value;
    assert.equal(text(granted.snapshot?.fields.position), "42");
    const result = await offer.result;
    assert.equal(result.outcome, OfferOutcome.ACCEPTED);
    assert.equal(result.byDevice, outcomes[0].status === "fulfilled" ? "tv" : "laptop");
    await Promise.all([phone, tv, laptop].map((c) => c.close()));
  });

  test("an offer whose answer was lost with its connection is sent again with its key and made once", async () => {
    const u = user("offer-again");
    const base = bearerWebSocket(WebSocket);
    let cut: (() => void) | undefined;
    const keys: string[] = [];
    const phone = client(node, u, "phone", {
      webSocket: (url, token) => {
        const inner = base(url, token);
        // Once an offer has gone out on the first connection, nothing more reaches the client:
        // its OfferCreated is lost, and the test cuts the connection.
        let deaf = false;
        const w: WebSocketLike = {
          get binaryType() {
            return inner.binaryType;
          },
          set binaryType(v: string) {
            inner.binaryType = v;
          },
          get readyState() {
            return inner.readyState;
          },
          onopen: null,
          onmessage: null,
          onclose: null,
          onerror: null,
          send(data: Uint8Array) {
            inner.send(data);
            const f = fromBinary(ClientFrameSchema, data);
            if (f.body.case === "offerActivity") {
              keys.push(f.body.value.offerKey);
              if (!cut) {
                deaf = true;
                cut = () => (inner as unknown as WebSocket).terminate();
              }
            }
          },
          close: (code?: number, reason?: string) => inner.close(code, reason),
        };
        inner.onopen = (ev) => w.onopen?.(ev);
        inner.onmessage = (ev) => {
          if (!deaf) w.onmessage?.(ev);
        };
        inner.onclose = (ev) => w.onclose?.(ev);
        inner.onerror = (ev) => w.onerror?.(ev);
        return w;
      },
    });
    const tv = client(node, u, "tv");
    await Promise.all([phone.connect(), tv.connect()]);
    const prompts: string[] = [];
    tv.on("prompt", (o) => prompts.push(o.offerId));
    const offer = phone.offer({ document: "player", kind: "video", title: "Episode 5" });
    await until("the offer made and prompted", () => prompts.length === 1);
    cut!();
    const created = await offer.created;
    assert.equal(created.offerId, prompts[0], "the offer the server made the first time");
    assert.equal(keys.length, 2);
    assert.equal(keys[0], keys[1], "sent again with its key");
    await tv.accept(created.offerId);
    assert.equal((await offer.result).byDevice, "tv", "its result reaches the app");
    assert.deepEqual(prompts, [created.offerId], "one offer, one prompt");
  });

  test("an offer prompt answered while disconnected stays shown, to be answered once connected", async () => {
    const u = user("prompt-kept");
    const phone = client(node, u, "phone");
    const tv = client(node, u, "tv");
    await Promise.all([phone.connect(), tv.connect()]);
    await phone.document("player").set("position", "7");
    const prompted = new Promise<string>((ok) => tv.on("prompt", (o) => ok(o.offerId)));
    const offer = phone.offer({ document: "player", kind: "video", title: "Episode 4" });
    const id = (await offer.created).offerId;
    assert.equal(await prompted, id);
    tv.setOffline(true);
    await assert.rejects(tv.accept(id), (e: HandoffError) => e.code === "NOT_CONNECTED");
    assert.ok(
      tv.prompts().some((o) => o.offerId === id),
      "still shown: the answer never reached the server",
    );
    const states: string[] = [];
    tv.on("state", (s) => states.push(s));
    tv.setOffline(false);
    await until("tv back", () => states.includes("connected"));
    const granted = await tv.accept(id);
    assert.equal(text(granted.snapshot?.fields.position), "7");
    assert.ok(!tv.prompts().some((o) => o.offerId === id), "answered: no longer shown");
    assert.equal((await offer.result).byDevice, "tv");
  });

  test("an offer prompt answered while 1,024 requests wait stays shown: the client refused it, not the server", async () => {
    const u = user("prompt-full");
    const phone = client(node, u, "phone");
    const tv = client(node, u, "tv");
    await Promise.all([phone.connect(), tv.connect()]);
    const prompted = new Promise<string>((ok) => tv.on("prompt", (o) => ok(o.offerId)));
    const offer = phone.offer({ document: "player", kind: "video", title: "Episode 6" });
    const id = (await offer.created).offerId;
    assert.equal(await prompted, id);
    // All asked at once: none can be answered before the accept is made.
    const waiting = Array.from({ length: 1024 }, () => tv.devices());
    for (const w of waiting) w.catch(() => {});
    const full = tv.accept(id);
    await assert.rejects(full, (e: HandoffError) => e.code === "LIMIT_EXCEEDED" && e.errorCode === 4);
    assert.ok(
      tv.prompts().some((o) => o.offerId === id),
      "still shown: the accept never reached the server, which refused nothing",
    );
    await Promise.allSettled(waiting);
    await tv.accept(id);
    assert.ok(!tv.prompts().some((o) => o.offerId === id), "answered: no longer shown");
    assert.equal((await offer.result).byDevice, "tv");
  });

  test("presence and activities of the other devices are seen", async () => {
    const u = user("presence");
    const phone = client(node, u, "phone");
    await phone.connect();
    const tv = client(node, u, "tv");
    await tv.connect();
    await until("phone sees the tv online", () => phone.presence().get("tv")?.online === true);
    const published = await tv.publishActivity({ document: "player", kind: "video", title: "Film" });
    assert.equal(published?.deviceId, "tv");
    await until("phone sees the tv's activity", () => phone.activities().get("tv")?.title === "Film");
    await tv.close();
    await until("phone sees the tv offline", () => phone.presence().get("tv")?.online === false);
    await phone.close();
  });

  test("a write given up on says whether it may have been applied", async () => {
    const u = user("given-up");
    const sent = client(node, u, "phone");
    await sent.connect();
    const onWire = sent.document("d").set("f", "1"); // on the wire at once: no ack can have come yet
    await sent.close();
    await assert.rejects(onWire, (e: HandoffError) => e.code === "CLIENT_CLOSED" && e.mayHaveBeenApplied);

    const offline = client(node, u, "tablet");
    await offline.connect();
    offline.setOffline(true);
    const held = offline.document("d").set("f", "2");
    await offline.close();
    await assert.rejects(held, (e: HandoffError) => e.code === "CLIENT_CLOSED" && !e.mayHaveBeenApplied);
  });
});
