import { create } from "@bufbuild/protobuf";
import type { SyncEngine } from "./engine.js";
import type { CarriedHello } from "./early-hello.js";
import { ClientFrameSchema, type ClientFrame, type ServerFrame } from "./gen/handoff/v1/handoff_pb.js";

const NORMAL_CLOSURE = 1000;
const ABNORMAL_CLOSURE = 1006;
/**
 * Terminal close code (protocol's `CloseCode.PROTOCOL_ERROR`): here, the server sent a frame that is no
 * `ServerFrame`. A protocol bug does not go away by reconnecting, so the client stops, as the Java one does.
 */
export const PROTOCOL_ERROR = 4500;
/** How often, at most, a connection looks at whether to ping or to give the server up. */
const HEARTBEAT_CHECK_MS = 1_000;
/** The least time a {@link Link.probe} leaves its ping's answer, also with a `heartbeatMarginMs` of 0. */
export const PROBE_MIN_MS = 1_000;

/** How the engine reaches a server: one channel per connection attempt. */
export interface FrameChannel {
  send(frame: ClientFrame): void;
  /** Closes with a close frame (normal closure). */
  close(): void;
  /** Drops the connection as a network failure would; no further callbacks. */
  abort(): void;
}

/** What a connector knows of a close beyond its code and reason. */
export interface CloseDetail {
  /** The HTTP status of a refused upgrade (Node's `ws` says it; a browser cannot see it). */
  status?: number;
  /** How long the refusal asked the client to wait (its `Retry-After` in seconds, here in ms). */
  retryAfterMs?: number;
  /** A 4502 the client reports for a token it cannot send: it stops, even with a token source. */
  tokenUnusable?: boolean;
}

export interface FrameListener {
  /** The Hello of this connection, built now: for the upgrade request (see {@link SyncEngine.onOpen}). */
  hello(): ClientFrame;
  /** The socket is open; `carried`: the Hello its upgrade carried, and whether the node read it (none: build one). */
  onOpen(carried?: CarriedHello): void;
  onFrame(frame: ServerFrame): void;
  onClose(code: number, reason: string, detail?: CloseDetail): void;
}

export type Connector = (listener: FrameListener) => FrameChannel;

/**
 * Close codes after which a client reconnects: every code but the protocol's terminal range (4500-4999),
 * as in the Java client. A Handoff node closes only with its own codes (after a `Disconnect` of the same
 * code), so a standard code (1000, 1001, 1005, 1006, ...) comes from something in between (a proxy
 * reloading, a load balancer's idle timeout, the network) and says nothing about whether the node would
 * take the device back.
 */
export function isReconnectCode(code: number): boolean {
  return !(code >= 4500 && code <= 4999);
}

/**
 * A client object's `Hello.instance`: random, never 0, not persisted, so two app instances with the same
 * device id differ. A REPLACED whose `Disconnect` names it came from an attempt of this client's own (one
 * it left before its 101, set up by the node after the next): the client reconnects after it.
 */
export function newInstance(): bigint {
  const instance = new BigUint64Array(1);
  do globalThis.crypto.getRandomValues(instance);
  while (instance[0] === 0n);
  return instance[0]!;
}

/** Whether a close code is one of Handoff's (4000-4999), known or not: only the node closes with those. */
export function isHandoffCode(code: number): boolean {
  return code >= 4000 && code <= 4999;
}

/** One connection attempt; callbacks of an attempt that is no longer current are ignored. */
export class Link implements FrameListener {
  channel?: FrameChannel;
  welcomed = false;
  /** The Hello the node has (read in the upgrade, or sent at the 101), until the Welcome says what it made of it. */
  helloSent?: ClientFrame;
  /** When the Welcome came (Date.now()), 0 before. */
  welcomedAt = 0;
  synced = false;
  disconnectCode = 0;
  disconnectReason = "";
  /** The `Disconnect`'s `replacedByInstance`: with REPLACED, the instance of the connection that took over. */
  replacedBy = 0n;
  readonly catchingUp = new Map<string, { epoch: bigint; toVersion: bigint }>();
  timer?: ReturnType<typeof setTimeout>;
  private heartbeat?: ReturnType<typeof setInterval>;
  private lastHeard = Date.now();
  // When the last heartbeat ping went out; a frame heard since answers it.
  private pingSentAt = 0;
  // The nonce of the last Ping sent, heartbeat's or probe's; each Ping carries the next.
  private nonce = 0n;
  // A probe's wait for an answer: only the Pong carrying probeNonce answers it.
  private probeTimer?: ReturnType<typeof setTimeout>;
  private probeNonce = 0n;
  // How long a probe waits for its answer: the heartbeat margin, at least PROBE_MIN_MS.
  private probeMs = PROBE_MIN_MS;
  // The browser said the network is back while this attempt was under way: if it fails, the next goes at once.
  private backWhileConnecting = false;
  // A probe found this connection dead, or it was left to be made again: the next attempt goes at once.
  private retryNow = false;

  constructor(private readonly engine: SyncEngine) {}

  hello(): ClientFrame {
    return this.engine.hello();
  }

  onOpen(carried?: CarriedHello): void {
    this.lastHeard = Date.now();
    this.engine.onOpen(this, carried);
  }

  /** Leaves this connection with a close frame, `why`, and has the next attempt go at once. */
  restart(why: string): void {
    this.retryNow = true;
    this.channel?.close();
    this.onClose(NORMAL_CLOSURE, why);
  }

  onFrame(frame: ServerFrame): void {
    this.lastHeard = Date.now();
    if (frame.body.case === "pong" && this.probeTimer !== undefined && frame.body.value.nonce === this.probeNonce) {
      clearTimeout(this.probeTimer);
      this.probeTimer = undefined;
    }
    this.engine.onFrame(this, frame);
  }

  onClose(code: number, reason: string, detail?: CloseDetail): void {
    this.engine.onClosed(this, code, reason, detail);
  }

  /**
   * Browsers cannot see WebSocket pings, so the client pings in protobuf when the server has been
   * silent for an interval, and gives the connection up when a ping has had no frame back for an
   * interval plus `marginMs` (the `heartbeatMarginMs` option, 5 s by default). Judged from the ping, not from the silence alone: a hidden tab's timers may
   * fire only once a minute, and a healthy idle connection is then silent between them for longer
   * than two intervals, though it answers every ping at once. Looked at every second (or interval, if
   * shorter), so a node that went silent is given up within two intervals and the margin, as the
   * protocol asks, not up to four intervals later.
   */
  startHeartbeat(intervalMs: number, marginMs: number): void {
    this.probeMs = Math.max(marginMs, PROBE_MIN_MS);
    if (intervalMs <= 0) return;
    this.heartbeat = setInterval(() => {
      const now = Date.now();
      const unanswered = this.pingSentAt > this.lastHeard;
      if (unanswered && now - this.pingSentAt > intervalMs + marginMs) {
        this.channel?.abort();
        this.onClose(ABNORMAL_CLOSURE, `no frame from the server for ${now - this.lastHeard} ms, ping unanswered`);
      } else if (!unanswered && now - this.lastHeard >= intervalMs) {
        this.pingSentAt = now;
        this.ping();
      }
    }, Math.min(intervalMs, HEARTBEAT_CHECK_MS));
  }

  /**
   * Checks a welcomed connection now, `why` it may have died unheard (the page was hidden, the network
   * changed): sends a `Ping` and gives the connection up if the `Pong` carrying its nonce has not come
   * back within the heartbeat margin (at least {@link PROBE_MIN_MS}), and then reconnects at once, the
   * backoff started over: whatever made the check worth doing (the page back, another network) is over
   * by then. Other frames neither answer it nor move its deadline: deltas still pushed over a link that
   * lost the client's direction, and frames the node sent before the network went (held by the browser
   * while the page was frozen), come after the Ping too (docs/decisions.md). One unanswered probe at a
   * time; nothing before the Welcome, whose wait has its own timeout.
   */
  probe(why: string): void {
    if (!this.welcomed || this.probeTimer !== undefined) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      this.retryNow = true;
      this.channel?.abort();
      this.onClose(ABNORMAL_CLOSURE, `${why}, and a ping had no answer within ${this.probeMs} ms`);
    }, this.probeMs);
    this.probeNonce = this.ping();
  }

  /** Sends a `Ping` with the next nonce, and returns that nonce. */
  private ping(): bigint {
    const nonce = ++this.nonce;
    this.channel?.send(create(ClientFrameSchema, { body: { case: "ping", value: { nonce } } }));
    return nonce;
  }

  /** The browser says the network is back: an attempt under way retries at once if it fails. */
  networkBack(): void {
    this.backWhileConnecting = !this.welcomed;
  }

  /**
   * Whether the next attempt goes at once: this one failed after the browser said the network was back
   * while it was under way, a probe found this connection dead, or it was {@link restart}ed.
   */
  get retryAtOnce(): boolean {
    return (this.backWhileConnecting && !this.welcomed) || this.retryNow;
  }

  stop(): void {
    clearTimeout(this.timer);
    clearInterval(this.heartbeat);
    clearTimeout(this.probeTimer);
  }
}

