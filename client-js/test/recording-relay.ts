// A TCP relay in front of a real node that records what each connection carried, as the node saw it: the
// upgrade request, the node's answer, and the kinds of the frames the device sent (unmasked and decoded).
// It can also play a node that does not read a Hello in the upgrade (it removes the Hello and the
// subprotocol from the request, as a node older than the feature ignores them), mangle the Hello (the node
// then refuses it, 400 invalid_hello), play proxies that refuse it (431, 414) or drop the subprotocol from
// the 101, and hold a request until the test lets it through.
import { connect, createServer, type Socket } from "node:net";
import { fromBinary } from "@bufbuild/protobuf";
import { type ClientFrame, ClientFrameSchema } from "../src/gen/handoff/v1/handoff_pb.js";
import type { Node } from "./harness.js";

/** What one connection carried. */
export interface Carried {
  /** The upgrade request as the device sent it (head only). */
  request: string;
  /** The head of the node's answer ("" until it came). */
  response: string;
  /** The frames the device sent after the upgrade, decoded. */
  frames: ClientFrame[];
}

export interface RecordingRelay {
  url: string;
  /** Every connection the relay took, in order. */
  connections: Carried[];
  /**
   * "node": carried as sent; "old": the Hello and its subprotocol removed; "mangled": the Hello not
   * base64url; "swallowed": removed as "old", and the node's 101 made to select the subprotocol, as a proxy
   * that took it for itself would; "tooLarge": a request carrying the Hello answered by the relay itself,
   * 431 (in the header) or 414 (in the query), as a proxy with small limits; "stripped": carried as sent,
   * and `Sec-WebSocket-Protocol` removed from the node's 101, as a proxy that drops it.
   */
  mode: "node" | "old" | "mangled" | "swallowed" | "tooLarge" | "stripped";
  /** When set, a request is carried to the node only once it resolves. */
  gate?: Promise<void>;
  /** When set as the node's response head passes, what the node sends after it reaches the device only once it resolves. */
  downGate?: Promise<void>;
  close(): void;
}

const END = "\r\n\r\n";

/** The response head a relay in mode "tooLarge" answers `head` with itself, or undefined to carry it to the node. */
function tooLarge(head: string): string | undefined {
  if (/^handoff-hello:/im.test(head)) return "HTTP/1.1 431 Request Header Fields Too Large";
  if (/^GET \S*[?&]hello=/.test(head)) return "HTTP/1.1 414 URI Too Long";
  return undefined;
}

/** The request head as a node of `mode` gets it. */
function rewrite(head: string, mode: RecordingRelay["mode"]): string {
  if (mode === "node" || mode === "tooLarge" || mode === "stripped") return head;
  if (mode === "swallowed") mode = "old";
  const lines = head.split("\r\n");
  if (mode === "mangled") return lines.map((l) => (/^handoff-hello:/i.test(l) ? "Handoff-Hello: !!not-base64url!!" : l)).join("\r\n");
  return lines
    .filter((l) => !/^handoff-hello:/i.test(l) && !/^sec-websocket-protocol:\s*handoff\.hello\s*$/i.test(l))
    .map((l, i) => (i === 0 ? l.replace(/([?&])hello=[^& ]*&?/, "$1").replace(/[?&] HTTP/, " HTTP") : l))
    .join("\r\n");
}

/** Reads the device's WebSocket frames (masked, unfragmented binary ones) from `buf`; returns what is left. */
function readFrames(buf: Buffer, into: ClientFrame[]): Buffer {
  for (;;) {
    if (buf.length < 2) return buf;
    const opcode = buf[0] & 0x0f;
    let length = buf[1] & 0x7f;
    let at = 2;
    if (length === 126) {
      if (buf.length < 4) return buf;
      length = buf.readUInt16BE(2);
      at = 4;
    } else if (length === 127) {
      if (buf.length < 10) return buf;
      length = Number(buf.readBigUInt64BE(2));
      at = 10;
    }
    const masked = (buf[1] & 0x80) !== 0;
    const mask = masked ? buf.subarray(at, at + 4) : undefined;
    at += masked ? 4 : 0;
    if (buf.length < at + length) return buf;
    const payload = Buffer.from(buf.subarray(at, at + length));
    if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
    if (opcode === 2) into.push(fromBinary(ClientFrameSchema, payload));
    buf = buf.subarray(at + length);
  }
}

/** A {@link RecordingRelay} to `node`'s port on 127.0.0.1. */
export async function startRecordingRelay(node: Node): Promise<RecordingRelay> {
  const sockets: Socket[] = [];
  const server = createServer((device) => {
    const carried: Carried = { request: "", response: "", frames: [] };
    relay.connections.push(carried);
    const upstream = connect(node.port, "127.0.0.1");
    sockets.push(device, upstream);
    device.on("error", () => {});
    upstream.on("error", () => {});
    device.on("close", () => upstream.destroy());
    upstream.on("close", () => device.destroy());
    let up: Buffer = Buffer.alloc(0);
    let headSent = false;
    device.on("data", (d: Buffer) => {
      up = Buffer.concat([up, d]);
      if (!headSent) {
        const end = up.indexOf(END);
        if (end < 0) return;
        headSent = true;
        carried.request = up.subarray(0, end).toString("latin1");
        const refusal = relay.mode === "tooLarge" ? tooLarge(carried.request) : undefined;
        if (refusal) {
          carried.response = refusal;
          upstream.removeAllListeners("close"); // Ended here, not by the node: the answer must leave first.
          upstream.destroy();
          device.end(`${refusal}\r\nContent-Length: 0\r\nConnection: close${END}`, "latin1");
          return;
        }
        const head = Buffer.from(rewrite(carried.request, relay.mode) + END, "latin1");
        up = up.subarray(end + END.length);
        const rest = up;
        const send = () => upstream.write(Buffer.concat([head, rest]));
        if (relay.gate) void relay.gate.then(send);
        else send();
      } else {
        upstream.write(d);
      }
      up = readFrames(up, carried.frames);
    });
    let down = "";
    let heldDown: Buffer[] | undefined;
    const toDevice = (d: Buffer) => (heldDown ? heldDown.push(d) : device.write(d));
    upstream.on("data", (d: Buffer) => {
      if (carried.response) return void toDevice(d);
      down += d.toString("latin1");
      const end = down.indexOf(END);
      if (end < 0) return;
      carried.response = down.slice(0, end);
      const offered = /^sec-websocket-protocol:\s*handoff\.hello\s*$/im.test(carried.request);
      const swallowed = relay.mode === "swallowed" && offered && /^HTTP\/1\.1 101/.test(carried.response);
      const head = swallowed
        ? `${carried.response}\r\nSec-WebSocket-Protocol: handoff.hello`
        : relay.mode === "stripped"
          ? carried.response.replace(/\r\nsec-websocket-protocol:[^\r]*/i, "")
          : carried.response;
      device.write(Buffer.from(head + END, "latin1"));
      const gate = relay.downGate;
      if (gate) {
        heldDown = [];
        void gate.then(() => {
          heldDown?.forEach((b) => device.write(b));
          heldDown = undefined;
        });
      }
      toDevice(Buffer.from(down.slice(end + END.length), "latin1"));
    });
  });
  await new Promise<void>((listening, failed) => {
    server.once("error", failed);
    server.listen(0, "127.0.0.1", listening);
  });
  const relay: RecordingRelay = {
    url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`,
    connections: [],
    mode: "node",
    close: () => {
      sockets.forEach((s) => s.destroy());
      server.close();
    },
  };
  return relay;
}

/** The Hello a request carried in its upgrade (header or query parameter), decoded; undefined if none. */
export function helloInRequest(request: string): ClientFrame | undefined {
  const header = /^handoff-hello:\s*(\S+)\s*$/im.exec(request)?.[1];
  const parameter = /^GET \S*[?&]hello=([^& ]+)/.exec(request)?.[1];
  const encoded = header ?? parameter;
  return encoded === undefined ? undefined : fromBinary(ClientFrameSchema, Buffer.from(encoded, "base64url"));
}

/** Whether the node's answer selected the subprotocol `handoff.hello`: it read the Hello. */
export const helloRead = (c: Carried) => /^HTTP\/1\.1 101/.test(c.response) && /^sec-websocket-protocol:\s*handoff\.hello\s*$/im.test(c.response);

/** The kinds of the frames the device sent on `c`. */
export const sentKinds = (c: Carried) => c.frames.map((f) => f.body.case);
