// A server that breaks the protocol: a small real WebSocket server (the `ws` package) that answers the
// Hello with a frame that is no ServerFrame. The client must stop for good with 4500, as the Java client
// does, and not reconnect: a protocol bug does not go away by trying again.
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { afterEach, mock, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { bearerWebSocket, HandoffClient, HandoffError } from "../src/index.js";
import { mintToken } from "./harness.js";

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
    let closedByClient!: () => void;
    const closed = new Promise<void>((r) => (closedByClient = r));
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
        closedByClient();
      });
    });
    await new Promise((listening) => server!.once("listening", listening));
    const port = (server.address() as AddressInfo).port;
    const states: [string, number][] = [];
    // The client's timers (a reconnect's backoff among them) run on the test's clock; its sockets are counted.
    mock.timers.enable({ apis: ["setTimeout"] });
    try {
      let sockets = 0;
      const open = bearerWebSocket(WebSocket);
      client = new HandoffClient({
        url: `ws://127.0.0.1:${port}/ws`,
        token: mintToken("ann", "phone"),
        webSocket: (url, token) => {
          sockets++;
          return open(url, token);
        },
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
      await closed;
      assert.equal(connections[0].closedWith, 1000);
      assert.equal(connections[0].reason, "undecodable frame");
      // A minute on the client's clock, far past its longest backoff: a reconnect would have made its socket
      // (a microtask after the attempt starts, once it has its token).
      mock.timers.tick(60_000);
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      assert.equal(sockets, 1, "no reconnect");
      assert.equal(connections.length, 1);
      assert.ok(connections[0].hello);
      assert.ok(!states.some(([s]) => s === "reconnecting"), JSON.stringify(states));
    } finally {
      mock.timers.reset();
    }
  });
}
