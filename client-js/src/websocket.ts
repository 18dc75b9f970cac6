// The WebSocket the client speaks through: the part of it the client uses, and the two ways to open
// one (a browser's, and Node's `ws` with an Authorization header).

/** The part of a WebSocket the client uses: the browser's `WebSocket` and `ws` both fit. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: any }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Opens a WebSocket to `url` authenticated with `token` (undefined: no token). */
export type WebSocketFactory = (url: string, token: string | undefined) => WebSocketLike;

/**
 * The browser way: the token travels as the `access_token` query parameter (browsers cannot set an
 * Authorization header on a WebSocket). Uses the global `WebSocket`.
 */
export const queryParameterWebSocket: WebSocketFactory = (url, token) => {
  const Ws = (globalThis as { WebSocket?: new (url: string) => WebSocketLike }).WebSocket;
  if (!Ws) {
    throw new Error("no global WebSocket: in Node 20 pass webSocket: bearerWebSocket(WebSocket) with the 'ws' package");
  }
  const target = token ? `${url}${url.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}` : url;
  return new Ws(target);
};

/**
 * For Node with the `ws` package: the token travels as `Authorization: Bearer` (which the server
 * prefers to the query parameter when both are present). `bearerWebSocket(WebSocket)` with
 * `import WebSocket from "ws"`.
 */
export function bearerWebSocket(
  Ws: new (url: string, options: { headers: Record<string, string> }) => unknown,
): WebSocketFactory {
  return (url, token) =>
    new Ws(url, { headers: token ? { Authorization: `Bearer ${token}` } : {} }) as WebSocketLike;
}

/** How long a closed socket may wait for the server's close frame before Node's `ws` drops it. */
export const CLOSE_GRACE_MS = 1_000;

/** Node's `ws` can drop a socket at once; a browser's WebSocket cannot (nor need to). */
export function hasTerminate(s: WebSocketLike): s is WebSocketLike & { terminate(): void } {
  return typeof (s as { terminate?: unknown }).terminate === "function";
}

