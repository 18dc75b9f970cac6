// The WebSocket the client speaks through: the part of it the client uses, and the two ways to open
// one (a browser's, and Node's `ws` with an Authorization header).
import { HELLO_HEADER, HELLO_SUBPROTOCOL, withHelloParameter } from "./early-hello.js";

/** The part of a WebSocket the client uses: the browser's `WebSocket` and `ws` both fit. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  /** The subprotocol the server's 101 selected ("" for none); a socket without it never read a Hello. */
  readonly protocol?: string;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/**
 * Opens a WebSocket to `url` authenticated with `token` (undefined: no token). `hello`, when given, is the
 * connection's Hello frame, base64url, for the upgrade request (docs/protocol.md, "A Hello in the
 * upgrade"): sent in the `Handoff-Hello` header or the `hello` query parameter, with the subprotocol
 * `handoff.hello` offered. A factory may leave it out (as one written before it does): the client then
 * sends the Hello as a frame, as it does when the socket's `protocol` is not `handoff.hello`.
 */
export type WebSocketFactory = (url: string, token: string | undefined, hello?: string) => WebSocketLike;

/**
 * The browser way: the token travels as the `access_token` query parameter (browsers cannot set an
 * Authorization header on a WebSocket), and so does a Hello (`hello`), unless the request line would
 * then be longer than a node reads. Uses the global `WebSocket`.
 */
export const queryParameterWebSocket: WebSocketFactory = (url, token, hello) => {
  const Ws = (globalThis as { WebSocket?: new (url: string, protocols?: string) => WebSocketLike }).WebSocket;
  if (!Ws) {
    throw new Error("no global WebSocket: in Node 20 pass webSocket: bearerWebSocket(WebSocket) with the 'ws' package");
  }
  const target = token ? `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}` : url;
  const withHello = hello === undefined ? undefined : withHelloParameter(target, hello);
  return withHello === undefined ? new Ws(target) : new Ws(withHello, HELLO_SUBPROTOCOL);
};

/** Node's `ws` constructor, with and without subprotocols. */
export interface WsConstructor {
  new (url: string, options: { headers: Record<string, string> }): unknown;
  new (url: string, protocols: string[], options: { headers: Record<string, string> }): unknown;
}

/**
 * For Node with the `ws` package: the token travels as `Authorization: Bearer` (which the server
 * prefers to the query parameter when both are present), and a Hello as the `Handoff-Hello` header
 * (not in the URL, which proxies write to their access logs). `bearerWebSocket(WebSocket)` with
 * `import WebSocket from "ws"`.
 */
export function bearerWebSocket(Ws: WsConstructor): WebSocketFactory {
  return (url, token, hello) => {
    const headers: Record<string, string> = token ? { Authorization: `Bearer ${token}` } : {};
    if (hello === undefined) return new Ws(url, { headers }) as WebSocketLike;
    return new Ws(url, [HELLO_SUBPROTOCOL], { headers: { ...headers, [HELLO_HEADER]: hello } }) as WebSocketLike;
  };
}

/** How long a closed socket may wait for the server's close frame before Node's `ws` drops it. */
export const CLOSE_GRACE_MS = 1_000;

/** Node's `ws` can drop a socket at once; a browser's WebSocket cannot (nor need to). */
export function hasTerminate(s: WebSocketLike): s is WebSocketLike & { terminate(): void } {
  return typeof (s as { terminate?: unknown }).terminate === "function";
}

