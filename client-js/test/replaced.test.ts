// A client's live connection closed REPLACED against a real node (the jar): by a connection whose Hello
// carries the client's own instance (an attempt it left before its 101, which the node set up after the
// next one) the client reconnects and is welcomed again, nothing lost; by another instance of the app with
// the same device id it stops, as before. The attempt left is played by a raw WebSocket carrying the
// client's instance, which makes its late arrival certain.
import assert from "node:assert/strict";
import { after, afterEach, before, describe, test } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import WebSocket from "ws";
import { type ClientFrame, ClientFrameSchema, type Disconnect, ServerFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import { bearerWebSocket, type WebSocketFactory } from "../src/index.js";
import { client, closeClients, mintToken, type Node, startNode, text, until, user } from "./harness.js";

const REPLACED = 4504;

let node: Node;
before(async () => {
  node = await startNode();
});
afterEach(closeClients);
after(async () => {
  await node.stop();
});

/** Node's `ws`, keeping the instance of each Hello the client sends: in the upgrade, or as a frame. */
function recordingInstances(instances: bigint[]): WebSocketFactory {
  const open = bearerWebSocket(WebSocket);
  const keep = (frame: ClientFrame) => {
    if (frame.body.case === "hello") instances.push(frame.body.value.instance);
  };
  return (url, token, hello) => {
    if (hello !== undefined) keep(fromBinary(ClientFrameSchema, Buffer.from(hello, "base64url")));
    const ws = open(url, token, hello);
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      keep(fromBinary(ClientFrameSchema, data));
      send(data);
    };
    return ws;
  };
}

/** A raw connection of `u`'s `device` whose Hello carries `instance`; resolves once it is welcomed. */
async function rawDevice(u: string, device: string, instance: bigint) {
  const ws = new WebSocket(node.url, { headers: { authorization: `Bearer ${mintToken(u, device)}` } });
  ws.binaryType = "arraybuffer";
  let disconnect: Disconnect | undefined;
  let closeCode = 0;
  let welcomed = false;
  ws.on("message", (data: ArrayBuffer) => {
    const f = fromBinary(ServerFrameSchema, new Uint8Array(data));
    if (f.body.case === "welcome") welcomed = true;
    if (f.body.case === "disconnect") disconnect = f.body.value;
  });
  ws.on("close", (code: number) => (closeCode = code));
  await new Promise((ok, fail) => ws.once("open", ok).once("error", fail));
  const hello = create(ClientFrameSchema, { requestId: 1n, body: { case: "hello", value: { instance } } });
  ws.send(toBinary(ClientFrameSchema, hello));
  await until("the raw connection welcomed", () => welcomed);
  return { ws, disconnect: () => disconnect, closeCode: () => closeCode };
}

describe("REPLACED by an attempt of the client's own, or by another instance", () => {
  test("replaced by a connection carrying its own instance, the client reconnects and is welcomed again, nothing lost", async () => {
    const u = user("replaced-own");
    const instances: bigint[] = [];
    const phone = client(node, u, "phone", { webSocket: recordingInstances(instances) });
    const states: string[] = [];
    phone.on("state", (s, code) => states.push(code ? `${s} ${code}` : s));
    await phone.connect();
    assert.equal(instances.length, 1);
    const instance = instances[0]!;
    assert.notEqual(instance, 0n, "the Hello carries an instance");
    assert.equal(await phone.document("cart").set("a", "1"), 1n);

    // The node sets the attempt the client left up only now: it replaces the live connection.
    const left = await rawDevice(u, "phone", instance);
    await until("reconnecting after REPLACED", () => states.includes(`reconnecting ${REPLACED}`));
    // Made while the client reconnects: held, and applied on the next connection.
    const held = phone.document("cart").set("b", "2");
    await until("connected again", () => states.lastIndexOf("connected") > states.indexOf(`reconnecting ${REPLACED}`));
    // The client's next connection takes the device back from the attempt it left.
    await until("the attempt left closed", () => left.closeCode() !== 0);
    assert.equal(left.closeCode(), REPLACED);
    assert.equal(left.disconnect()?.replacedByInstance, instance);
    assert.equal(await held, 2n);
    assert.equal(await phone.document("cart").set("c", "3"), 3n);
    assert.equal(phone.state, "connected");
    assert.deepEqual(
      instances,
      instances.map(() => instance),
      "the same instance in every Hello",
    );
    // Every write applied, as another device of the user reads the document.
    const tv = client(node, u, "tv");
    await tv.connect();
    await until("the tv has the cart", () => tv.document("cart").version === 3n);
    assert.deepEqual(
      ["a", "b", "c"].map((f) => text(tv.document("cart").get(f))),
      ["1", "2", "3"],
    );
  });

  test("replaced by another instance of the app with the same device id, the client stops", async () => {
    const u = user("replaced-other");
    const instances: bigint[] = [];
    const phone = client(node, u, "phone", { webSocket: recordingInstances(instances) });
    const states: string[] = [];
    phone.on("state", (s, code) => states.push(code ? `${s} ${code}` : s));
    await phone.connect();
    const other = await rawDevice(u, "phone", instances[0]! + 1n);
    await until("closed for good", () => states.includes(`closed ${REPLACED}`));
    assert.equal(phone.state, "closed");
    assert.equal(instances.length, 1, "no attempt after the terminal close");
    assert.equal(other.closeCode(), 0, "the other instance keeps the device");
    other.ws.close();
  });
});
