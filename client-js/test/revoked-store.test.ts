// A device's session ends for good (close 4503: the user erased everything) while writes wait in its
// durable offline store: they fail with the close's code and leave the store, so the same device signed
// in again on the same store key does not send them and recreate what the user erased.
import assert from "node:assert/strict";
import { after, afterEach, before, test } from "node:test";
import WebSocket from "ws";
import { bearerWebSocket, DeviceSignIn, type HandoffError, HandoffClient, type OfflineStore, type StoredState } from "../src/index.js";
import { closeClients, IdentityProvider, type Node, startNode, track, until, user } from "./harness.js";

const app = new IdentityProvider();
let node: Node;
before(async () => {
  node = await startNode(app.args());
});
after(async () => {
  await node?.stop();
});
afterEach(closeClients);

/** A store that keeps its state across clients, as IndexedDB does across page loads. */
class KeptStore implements OfflineStore {
  readonly durable = true;
  state?: StoredState;
  /** While set, saves wait for it: writes stay queued (numbered, unsent) on a live connection. */
  held?: Promise<void>;
  async load(): Promise<StoredState | undefined> {
    return this.state === undefined ? undefined : structuredClone(this.state);
  }
  async save(state: StoredState): Promise<void> {
    await this.held;
    this.state = structuredClone(state);
  }
}

async function signIn(u: string, deviceId: string) {
  const r = await new DeviceSignIn(node.http).signIn(app.token(u), { deviceId });
  assert.equal(r.status, "signed_in");
  if (r.status !== "signed_in") throw new Error("held");
  return r.session;
}

function on(token: string, store: OfflineStore): HandoffClient {
  return track(new HandoffClient({ url: node.url, token, webSocket: bearerWebSocket(WebSocket), store, reconnect: { initialMs: 50, maxMs: 500 } }));
}

test("writes queued when the session is revoked for good are failed with 4503 and leave the durable store", async () => {
  const u = user("erased");
  const store = new KeptStore();
  const first = await signIn(u, "tablet");
  const tablet = on(first.accessToken, store);
  await tablet.connect();
  await tablet.document("kept").set("f", "1");
  tablet.setOffline(true);
  const failed = tablet
    .document("cart")
    .set("items", "3")
    .then(
      () => undefined,
      (e: HandoffError) => e,
    );
  await until("the queued write is in the store", () => store.state?.writes.length === 1);
  // Back online, the write waits for the save of its number: queued, unsent, on a live connection.
  let release = () => {};
  store.held = new Promise((r) => (release = r));
  tablet.setOffline(false);
  await until("connected", () => tablet.state === "connected");

  const erased = await fetch(`${node.http}/v1/me`, { method: "DELETE", headers: { authorization: `Bearer ${first.accessToken}` } });
  assert.ok(erased.ok, `erasure answered ${erased.status}`);
  const e = await failed;
  store.held = undefined;
  release();
  assert.ok(e, "the queued write is not applied");
  assert.equal(e.closeCode, 4503);
  await tablet.close();
  assert.deepEqual(store.state?.writes, [], "the store no longer holds the write");

  // The same device signs in again on the same store: nothing of before the erasure is sent.
  const again = on((await signIn(u, "tablet")).accessToken, store);
  await again.ready();
  assert.equal(again.pendingWrites, 0);
  await again.connect();
  await again.document("probe").set("f", "1");
  const other = on((await signIn(u, "phone")).accessToken, new KeptStore());
  await other.connect();
  assert.equal(other.document("cart").version, 0n, "the erased user's write was never applied");
});
