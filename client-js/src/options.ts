// The client's options: what an app may give HandoffClient, their defaults and checks, and what the
// engine is configured with.
import { Backoff } from "./backoff.js";
import { HandoffError } from "./errors.js";
import { checkFollowEntries, checkFollowSpec } from "./names.js";
import type { OfflineStore } from "./store.js";
import type { WebSocketFactory } from "./websocket.js";
import { DEFAULT_MAX_UNACKED_WRITE_BYTES } from "./write-queue.js";

export const DEFAULT_RECONNECT_INITIAL_MS = 100;
export const DEFAULT_RECONNECT_MAX_MS = 30_000;
export const DEFAULT_MAX_PENDING_WRITES = 10_000;
export const DEFAULT_MAX_IN_FLIGHT_WRITES = 1_000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_HEARTBEAT_MARGIN_MS = 5_000;
export const DEFAULT_CLIENT_NAME = "handoff-js/0.1";
/** The longest delay setTimeout waits (2^31 - 1 ms, about 24.8 days); it runs a longer one at once. */
const MAX_TIMER_MS = 2_147_483_647;

/**
 * What to follow: every document, or these names and prefixes. A prefix follows the rule of document
 * names (at most 256 UTF-8 bytes, no control characters) but may be empty or a partial name; the
 * client's constructor throws `INVALID_ARGUMENT` for one the server would refuse.
 */
export type FollowOption = "all" | { documents?: string[]; prefixes?: string[] };

export interface HandoffClientOptions {
  /** `ws://host:port/ws` or `wss://...`. Give this or {@link urls}. */
  url?: string;
  /**
   * Several endpoints of the same deployment (e.g. one per node). The client starts with the first
   * and moves to the next one after every failed attempt or lost connection, wrapping around.
   */
  urls?: string[];
  /** A fixed access token. */
  token?: string;
  /**
   * Fetches an access token (e.g. `POST /v1/token` with the refresh token): before every connection
   * attempt and when the server says the token expires soon (then handed over in band). Never
   * called twice at once: a caller arriving while a fetch runs shares its result, so one refresh
   * token is never presented twice concurrently (which would revoke the device session).
   */
  tokenSource?: () => Promise<string> | string;
  /** Default "all". */
  follow?: FollowOption;
  /** Default {@link queryParameterWebSocket} (browsers); Node 20: `bearerWebSocket(WebSocket)` from `ws`. */
  webSocket?: WebSocketFactory;
  /** Where replicas and unacked writes are kept: {@link MemoryStore} by default, `IndexedDbStore` in browsers. */
  store?: OfflineStore;
  /**
   * Reconnect delays: the n-th consecutive attempt waits a random time in [0, min(max, initial * 2^n)).
   * Both at most 2,147,483,647 ms (about 24.8 days, the longest a timer waits), initial not above max.
   */
  reconnect?: { initialMs?: number; maxMs?: number };
  /** Writes waiting to be sent at most (default 10,000); one more is refused `LIMIT_EXCEEDED`, unsent. */
  maxPendingWrites?: number;
  /**
   * Bytes of unacked writes held at most (default 16 MiB, as the Java client): document and field
   * names, values and 256 per write; a write past it is refused `LIMIT_EXCEEDED`, unsent.
   */
  maxUnackedWriteBytes?: number;
  maxInFlightWrites?: number;
  /** Limit for opening the socket and receiving the Welcome; at most 2,147,483,647 ms, as the Java client's. */
  connectTimeoutMs?: number;
  /**
   * How much longer than the server's heartbeat interval (its Welcome says it) a ping may go
   * unanswered before the client gives the connection up as dead and reconnects (default 5,000 ms,
   * as the Java client's `heartbeatMargin`): the time a round trip and a late timer may take. 0 to
   * 2,147,483,647 ms, as the Java client's.
   */
  heartbeatMarginMs?: number;
  clientName?: string;
}

/** The engine's configuration, from the options an app gave. */
export interface EngineConfig {
  followAll: boolean;
  followDocuments: string[];
  followPrefixes: string[];
  clientName: string;
  maxPendingWrites: number;
  maxUnackedWriteBytes: number;
  maxInFlightWrites: number;
  connectTimeoutMs: number;
  heartbeatMarginMs: number;
  /** Asked for a fresh token when the server says the connection's token expires soon. */
  refreshToken?: () => Promise<string | undefined>;
}

/** Checks `options` (throws `INVALID_ARGUMENT`) and fills in the defaults. */
export function engineConfig(
  options: HandoffClientOptions,
  refreshToken: (() => Promise<string | undefined>) | undefined,
): { config: EngineConfig; backoff: Backoff } {
  const follow = options.follow ?? "all";
  if (follow !== "all") {
    checkFollowSpec("follow", follow);
    checkFollowEntries("follow", follow.documents ?? [], follow.prefixes ?? []);
  }
  const positive = (name: string, v: number | undefined, d: number, max = Number.MAX_SAFE_INTEGER, min = 1) => {
    if (v === undefined) return d;
    if (!Number.isInteger(v) || v < min || v > max) {
      const what = min === 0 ? "a non-negative integer" : "a positive integer";
      throw new HandoffError("INVALID_ARGUMENT", `${name} must be ${what}${max === MAX_TIMER_MS ? ` at most ${max} ms` : ""}, was ${v}`);
    }
    return v;
  };
  // A delay the timers wait: a longer one would run at once (as the Java client's builder refuses it).
  const delay = (name: string, v: number | undefined, d: number) => positive(name, v, d, MAX_TIMER_MS);
  const initialMs = delay("reconnect.initialMs", options.reconnect?.initialMs, DEFAULT_RECONNECT_INITIAL_MS);
  const maxMs = delay("reconnect.maxMs", options.reconnect?.maxMs, DEFAULT_RECONNECT_MAX_MS);
  if (initialMs > maxMs) {
    throw new HandoffError("INVALID_ARGUMENT", `reconnect.initialMs (${initialMs}) must not be above reconnect.maxMs (${maxMs})`);
  }
  const backoff = new Backoff(initialMs, maxMs);
  const config: EngineConfig = {
    followAll: follow === "all",
    // Each once, in the order first given, as the Java client's builder keeps them: the Hello then says
    // what a set made at run time says, and a change that leaves the set as it was leaves an attempt be.
    followDocuments: follow === "all" ? [] : [...new Set(follow.documents ?? [])],
    followPrefixes: follow === "all" ? [] : [...new Set(follow.prefixes ?? [])],
    clientName: options.clientName ?? DEFAULT_CLIENT_NAME,
    maxPendingWrites: positive("maxPendingWrites", options.maxPendingWrites, DEFAULT_MAX_PENDING_WRITES),
    maxUnackedWriteBytes: positive(
      "maxUnackedWriteBytes",
      options.maxUnackedWriteBytes,
      DEFAULT_MAX_UNACKED_WRITE_BYTES,
    ),
    maxInFlightWrites: positive("maxInFlightWrites", options.maxInFlightWrites, DEFAULT_MAX_IN_FLIGHT_WRITES),
    connectTimeoutMs: delay("connectTimeoutMs", options.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
    // 0 allowed, as the Java client's heartbeatMargin: the interval alone leaves the pong its room.
    heartbeatMarginMs: positive("heartbeatMarginMs", options.heartbeatMarginMs, DEFAULT_HEARTBEAT_MARGIN_MS, MAX_TIMER_MS, 0),
    refreshToken,
  };
  return { config, backoff };
}
