// A server that breaks the protocol: a small real WebSocket server (the `ws` package) that answers the
// Hello with a frame that is no ServerFrame. The client must stop for good with 4500, as the Java client
// does, and not reconnect: a protocol bug does not go away by trying again.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { afterEach, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { bearerWebSocket, HandoffClient, HandoffError } from "../src/index.js";
import { mintToken, until } from "./harness.js";

// Field 31 with wire type 7, which does not exist: no protobuf decoder accepts it.
const UNDECODABLE = Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]);

let server: WebSocketServer | undefined;
let client: HandoffClient | undefined;

afterEach(async () => {
  await client?.close();
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = client = undefined;
});

for (const [what, answer, binary] of [
  ["an undecodable binary frame", UNDECODABLE, true],
  ["a text frame", "{\"welcome\":{}}", false],
] as const) {
  test(`${what} from the server stops the client with 4500 and it does not reconnect`, { timeout: 10_000 }, async () => {
    const connections: { hello: boolean; closedWith?: number; reason?: string }[] = [];
    server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    server.on("connection", (ws) => {
      const seen: (typeof connections)[number] = { hello: false };
      connections.push(seen);
      ws.on("message", () => {
        seen.hello = true;
        ws.send(answer, { binary });
      });
      ws.on("close", (code, reason) => {
        seen.closedWith = code;
        seen.reason = reason.toString();
      });
    });
    await new Promise((listening) => server!.once("listening", listening));
    const port = (server.address() as AddressInfo).port;
    const states: [string, number][] = [];
    client = new HandoffClient({
      url: `ws://127.0.0.1:${port}/ws`,
      token: mintToken("ann", "phone"),
      webSocket: bearerWebSocket(WebSocket),
      reconnect: { initialMs: 10, maxMs: 20 },
    });
    client.on("state", (state, code) => states.push([state, code]));

    const refused = await client.connect().then(
      () => assert.fail("connected to a server that broke the protocol"),
      (e: unknown) => e,
    );

    assert.ok(refused instanceof HandoffError, String(refused));
    assert.equal(refused.code, "CLOSED");
    assert.equal(refused.closeCode, 4500);
    assert.match(refused.message, /undecodable/);
    assert.deepEqual(states.at(-1), ["closed", 4500]);
    await until("the server saw the client close the socket", () => connections[0]?.closedWith !== undefined);
    assert.equal(connections[0].closedWith, 1000);
    assert.equal(connections[0].reason, "undecodable frame");
    // Ten times the longest backoff: a client that reconnects would have come back by now.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(connections.length, 1, "no reconnect");
    assert.ok(connections[0].hello);
    assert.ok(!states.some(([s]) => s === "reconnecting"), JSON.stringify(states));
  });
}
