import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Approvals } from "./approvals.js";
import { PROTOCOL_ERROR } from "./connection.js";
import type { Document } from "./document.js";
import {
  type ClientEvents,
  type Connector,
  type ConnectionState,
  type FrameChannel,
  type FrameListener,
  HELLO_REQUEST_ID,
  SyncEngine,
} from "./engine.js";
import { EarlyHellos, type HelloAttempt } from "./early-hello.js";
import { fromServer, HandoffError } from "./errors.js";
import {
  CLOSE_GRACE_MS,
  type WebSocketFactory,
  type WebSocketLike,
  bearerWebSocket,
  hasTerminate,
  queryParameterWebSocket,
} from "./websocket.js";
import { Emitter } from "./events.js";
import {
  type Activity,
  ActivitySchema,
  type ClientFrame,
  ClientFrameSchema,
  type DeviceInfo,
  type DevicePresence,
  type Offer,
  type OfferGranted,
  type OfferResult,
  type ServerFrame,
  ServerFrameSchema,
} from "./gen/handoff/v1/handoff_pb.js";
import { type HandoffEvents, type OutgoingOffer, Requests } from "./requests.js";
import { MemoryStore, type OfflineStore } from "./store.js";
import { expiredAt } from "./token-refresh.js";
import { checkFollowSpec } from "./names.js";
import { engineConfig, type HandoffClientOptions } from "./options.js";

export type { FollowOption, HandoffClientOptions } from "./options.js";

/** The server refuses longer tokens at the upgrade. */
export const MAX_TOKEN_LENGTH = 4096;
/** What an access token can hold: a JWT is visible ASCII (RFC 6750's b64token is a subset). */
const TOKEN_CHARACTERS = /^[\x21-\x7e]+$/;
/** How many times an offer is sent at most before its failure reaches the app. */
export const MAX_OFFER_SENDS = 5;
/** How long an offer without a TTL of its own is sent again for. */
export const OFFER_RESEND_WINDOW_MS = 30_000;

/** A fresh random offer key: 128 bits in hex (crypto.getRandomValues works in every context). */
function randomKey(): string {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

type AllEvents = ClientEvents & HandoffEvents;

/**
 * A connection to a Handoff server for one device of one user, with a local replica of each
 * document it follows. It reconnects by itself with exponential backoff and jitter, resumes from
 * its replicas' versions, and re-sends unacked writes with their original sequence numbers.
 *
 * ```ts
 * const client = new HandoffClient({ url: "ws://localhost:8080/ws", token });
 * client.on("change", (c) => console.log(c.document, c.version));
 * await client.connect();
 * const version = await client.document("player").set("position", "1:02:03");
 * ```
 */
export class HandoffClient {
  private readonly events = new Emitter<AllEvents>();
  private readonly engine: SyncEngine;
  private tokenFetch?: Promise<string | undefined>;
  /**
   * Signing in other devices from this one: look up and answer user codes, answer "is this you?"
   * prompts (the `approvalPrompt` / `approvalWithdrawn` events).
   */
  readonly approvals: Approvals;

  private readonly urls: string[];
  // Which of `urls` the next attempt uses; moves on after a failed attempt or a lost connection.
  private endpoint = 0;
  // Which of `urls` get the Hello in the upgrade.
  private readonly earlyHellos = new EarlyHellos();

  constructor(private readonly options: HandoffClientOptions) {
    if ((options.url === undefined) === (options.urls === undefined)) {
      throw new HandoffError("INVALID_ARGUMENT", "give url or urls (one of them)");
    }
    const urls = options.urls ?? [options.url];
    if (!Array.isArray(urls) || urls.length === 0) {
      throw new HandoffError("INVALID_ARGUMENT", "urls must hold at least one endpoint");
    }
    for (const url of urls) {
      if (typeof url !== "string" || !/^wss?:\/\/[^/]+/i.test(url)) {
        throw new HandoffError("INVALID_ARGUMENT", `url must be ws:// or wss:// with a host, was ${String(url)}`);
      }
    }
    this.urls = [...(urls as string[])];
    if (options.token !== undefined && options.tokenSource !== undefined) {
      throw new HandoffError("INVALID_ARGUMENT", "give token or tokenSource, not both");
    }
    const { config, backoff } = engineConfig(options, options.tokenSource ? () => this.token() : undefined);
    this.engine = new SyncEngine(
      config,
      this.connector(),
      backoff,
      this.events,
      new Requests(this.events),
      options.store ?? new MemoryStore(),
    );
    this.approvals = new Approvals(this.engine);
  }

  /**
   * Starts connecting (after reading the offline store); resolves at the first Welcome, rejects if
   * the connection closes with a terminal code or the client is closed. Keeps retrying until then;
   * `signal` stops the wait (the client keeps connecting; call {@link close} to stop it). What the
   * Welcome itself carries is held by then: {@link activities}, {@link prompts} and {@link presence}
   * are this connection's from the moment it resolves (and from the "connected" state event), also
   * after a reconnect to another node, never what was live before it.
   */
  connect(options: { signal?: AbortSignal } = {}): Promise<void> {
    const connected = this.engine.connect();
    const signal = options.signal;
    if (!signal) return connected;
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      signal.addEventListener("abort", onAbort, { once: true });
      connected.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof AllEvents>(event: K, listener: AllEvents[K]): () => void {
    return this.events.on(event, listener);
  }

  off<K extends keyof AllEvents>(event: K, listener: AllEvents[K]): void {
    this.events.off(event, listener);
  }

  /** The handle for a document (the same one for the same name); its replica starts empty. */
  document(name: string): Document {
    if (typeof name !== "string" || name.length === 0) {
      throw new HandoffError("INVALID_ARGUMENT", "document name must not be empty");
    }
    return this.engine.document(name);
  }

  /** Resolves once the offline store has been read: held documents and writes are then in place. */
  ready(): Promise<void> {
    return this.engine.load();
  }

  /**
   * Follows more documents, by name and prefix; resolves when the server has synced them. Rejects at
   * once with `INVALID_ARGUMENT`, sending nothing, for a name or prefix the server would refuse (a
   * prefix follows the rule of names, at most 256 UTF-8 bytes and no control characters, but may be
   * empty or a partial name), or when the names and prefixes followed would be over the server's
   * limit of 256 follow entries, with the follows and unfollows still waiting for answers taken. Rejects with the server's error if it refuses it (the follow set stays
   * as it was), with `LIMIT_EXCEEDED` when 1,024 requests, or follows and unfollows, wait for answers already, or if the client is closed or stops for good first. Not connected, or if the connection
   * ends before the answer, it changes what the next Hello carries and resolves: the next connection
   * follows it.
   */
  follow(spec: { documents?: string[]; prefixes?: string[] }): Promise<void> {
    try {
      checkFollowSpec("follow", spec);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.engine.follow(spec, true);
  }

  /**
   * Follows every document of the user (the prefix ""). Rejects with `INVALID_ARGUMENT` if that one
   * more entry would put the follow set over the server's limit of 256.
   */
  followAll(): Promise<void> {
    return this.engine.follow({ prefixes: [""] }, true, "followAll");
  }

  /**
   * Stops following names and prefixes, exactly as given; resolves when the server has stopped their
   * pushes to this device (no delta of a document no longer followed arrives after that). Rejects at
   * once with `INVALID_ARGUMENT`, sending nothing, for a name or prefix the server would refuse; settles
   * as {@link follow} does (a connection that ends before the answer: resolves, the next Hello lacks them).
   */
  unfollow(spec: { documents?: string[]; prefixes?: string[] }): Promise<void> {
    try {
      checkFollowSpec("unfollow", spec);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.engine.follow(spec, false);
  }

  /**
   * Publishes what this device is doing now (undefined clears it); resolves with the activity as
   * stored. Fails with `PAYLOAD_TOO_LARGE`, `RATE_LIMITED`, or `NOT_CONNECTED`.
   */
  async publishActivity(activity: Partial<Activity> | undefined): Promise<Activity | undefined> {
    const f = await this.engine.request(
      create(ClientFrameSchema, {
        body: {
          case: "publishActivity",
          value: { activity: activity ? create(ActivitySchema, activity as Activity) : undefined },
        },
      }),
    );
    return expect(f, "activityUpdate").activity;
  }

  /**
   * Offers an activity to one device (`targetDevice`) or, with undefined, to all the user's other
   * devices, live for `ttlMs` (undefined: the server's default).
   */
  offer(activity: Partial<Activity>, options: { targetDevice?: string; ttlMs?: number } = {}): OutgoingOffer {
    const ttl = options.ttlMs ?? 0;
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) {
      throw new HandoffError("INVALID_ARGUMENT", `ttlMs must be a non-negative integer, was ${ttl}`);
    }
    const value = {
      targetDevice: options.targetDevice ?? "",
      activity: create(ActivitySchema, activity as Activity),
      ttlMs: ttl,
      offerKey: randomKey(),
    };
    const giveUpAt = Date.now() + (ttl > 0 ? ttl : OFFER_RESEND_WINDOW_MS);
    const answer = (async () => {
      for (let attempt = 1; ; attempt++) {
        const frame = create(ClientFrameSchema, { body: { case: "offerActivity", value } });
        try {
          // Made while disconnected, the first send fails at once; one whose answer was lost waits
          // for the next Welcome and goes again with its key, which the server answers with the
          // offer it made (if it made it), so the app sees one offer.
          return await (attempt === 1 ? this.engine.request(frame) : this.engine.requestOnceConnected(frame));
        } catch (e) {
          const again =
            e instanceof HandoffError &&
            attempt < MAX_OFFER_SENDS &&
            Date.now() < giveUpAt &&
            (e.mayHaveBeenApplied || (e.errorCode !== undefined && e.retryable));
          if (!again) throw e;
          if (!e.mayHaveBeenApplied) await this.engine.requests.later(250 * attempt);
        }
      }
    })();
    const created = answer.then((f) => expect(f, "offerCreated").offer!);
    const result = answer.then((f) => this.engine.requests.resultOf(f));
    result.catch(() => {});
    return { created, result };
  }

  /**
   * Accepts an offer. Of all devices accepting one offer exactly one gets the OfferGranted (with
   * the document's latest snapshot); the others reject with `OFFER_WITHDRAWN`.
   */
  async accept(offerId: string): Promise<OfferGranted> {
    return expect(await this.answerPrompt("acceptOffer", offerId), "offerGranted");
  }

  /** Declines an offer: it ends (DECLINED) for every target. */
  async decline(offerId: string): Promise<void> {
    await this.answerPrompt("declineOffer", offerId);
  }

  /** Cancels an offer this device made; resolves with its CANCELLED result. */
  async cancel(offerId: string): Promise<OfferResult> {
    const f = await this.engine.request(
      create(ClientFrameSchema, { body: { case: "cancelOffer", value: { offerId } } }),
    );
    return expect(f, "offerResult");
  }

  private async answerPrompt(kind: "acceptOffer" | "declineOffer", offerId: string): Promise<ServerFrame> {
    if (!offerId) throw new HandoffError("INVALID_ARGUMENT", "offerId must not be empty");
    let answer: ServerFrame;
    try {
      answer = await this.engine.request(create(ClientFrameSchema, { body: { case: kind, value: { offerId } } }));
    } catch (e) {
      // The server answered (the offer ended, was taken, ...): the prompt is over. The client's own
      // errors (not connected, connection lost, too many requests waiting) leave it shown, to be
      // answered again, as in the Java client.
      if (fromServer(e)) this.engine.requests.prompts.delete(offerId);
      throw e;
    }
    this.engine.requests.prompts.delete(offerId);
    return answer;
  }

  /** The user's signed-in devices (needs a server-issued token; development tokens have none). */
  async devices(): Promise<DeviceInfo[]> {
    const f = await this.engine.request(create(ClientFrameSchema, { body: { case: "listDevices", value: {} } }));
    return expect(f, "deviceList").devices;
  }

  /** Revokes another device of the user; resolves with the revoked ids. */
  async revokeDevice(deviceId: string): Promise<string[]> {
    if (!deviceId) throw new HandoffError("INVALID_ARGUMENT", "deviceId must not be empty");
    return this.revoke({ deviceId, allOthers: false });
  }

  /** Revokes every device of the user but this one. */
  revokeOtherDevices(): Promise<string[]> {
    return this.revoke({ deviceId: "", allOthers: true });
  }

  private async revoke(value: { deviceId: string; allOthers: boolean }): Promise<string[]> {
    const f = await this.engine.request(create(ClientFrameSchema, { body: { case: "revokeDevice", value } }));
    return expect(f, "devicesRevoked").deviceIds;
  }

  /** The latest activity of each of the user's other devices, as last heard. */
  activities(): Map<string, Activity> {
    return new Map(this.engine.requests.activities);
  }

  /** Live offers addressed to this device. */
  prompts(): Offer[] {
    return [...this.engine.requests.prompts.values()];
  }

  /** The user's other devices and whether they are online, as last heard. */
  presence(): Map<string, DevicePresence> {
    return new Map(this.engine.requests.presence);
  }

  get state(): ConnectionState {
    return this.engine.state;
  }

  get userId(): string | undefined {
    return this.engine.userId;
  }

  get deviceId(): string | undefined {
    return this.engine.deviceId;
  }

  /** Writes not yet acked. */
  get pendingWrites(): number {
    return this.engine.pendingWrites();
  }

  /** Offline mode: true closes the connection and queues writes; false connects again. */
  setOffline(offline: boolean): void {
    this.engine.setPaused(offline);
  }

  get offline(): boolean {
    return this.engine.offline;
  }

  /**
   * Checks the connection now, for an app that hears of a change the client cannot (Node has no browser
   * events; in a browser the client checks by itself when the page is shown again or the network
   * changes): sends a `Ping` and, if the `Pong` carrying its nonce does not come back within
   * `heartbeatMarginMs` (at least 1,000 ms; other frames do not answer it: deltas the node still pushes
   * over a link that lost the client's direction, or frames it sent before the network went), gives the
   * socket up as dead and reconnects at once, the backoff started over, with
   * state "reconnecting" and close code 1006. Nothing happens when not connected (no Welcome yet, or
   * reconnecting, offline or closed) or while a check is waiting for its answer. Returns at once.
   */
  checkConnection(): void {
    this.engine.checkConnection("the app asked for a check");
  }

  /** Cuts the connection as a network failure would; the client reconnects and resumes. For tests. */
  dropConnection(): void {
    this.engine.dropConnection();
  }

  /**
   * Closes for good: pending promises reject with `CLIENT_CLOSED`. With a durable store, unacked writes
   * stay in it for its next client, after a last save (one no save holds rejects with `STORE_FAILED`).
   */
  close(): Promise<void> {
    return this.engine.close();
  }

  /** One token fetch at a time: callers during a fetch share it. */
  private token(): Promise<string | undefined> {
    const { token, tokenSource } = this.options;
    if (!tokenSource) return Promise.resolve(token);
    this.tokenFetch ??= Promise.resolve()
      .then(tokenSource)
      .finally(() => (this.tokenFetch = undefined));
    return this.tokenFetch;
  }

  private connector(): Connector {
    const factory = this.options.webSocket ?? queryParameterWebSocket;
    return (listener: FrameListener): FrameChannel => {
      let ws: WebSocketLike | undefined;
      let detached = false;
      let attempt: HelloAttempt | undefined;
      const detach = () => {
        detached = true;
        if (!ws) return;
        ws.onopen = ws.onmessage = ws.onclose = null;
        // Not null: closing a socket still connecting makes Node's `ws` emit an error, and an error
        // event without a listener would crash the app's process.
        ws.onerror = () => {};
      };
      this.token().then(
        (token) => {
          if (detached) return;
          if (token !== undefined && token.length > MAX_TOKEN_LENGTH) {
            listener.onClose(
              4502,
              `the access token cannot be used: it is ${token.length} characters, over the limit of ${MAX_TOKEN_LENGTH}`,
              UNUSABLE_TOKEN,
            );
            return;
          }
          if (token !== undefined && !TOKEN_CHARACTERS.test(token)) {
            // It could never be used: `ws` throws on it, a browser would send a token the server refuses,
            // and an empty one is no token (the Java client refuses it too).
            listener.onClose(
              4502,
              token === ""
                ? "the access token cannot be used: the token is empty"
                : "the access token cannot be used: it holds characters a token cannot have (only visible ASCII, no spaces or line breaks)",
              UNUSABLE_TOKEN,
            );
            return;
          }
          const expired = token !== undefined && !this.options.tokenSource ? expiredAt(token) : undefined;
          if (expired !== undefined) {
            // A browser cannot see the upgrade's 401: it would reconnect with this token for ever.
            listener.onClose(
              4502,
              `the access token cannot be used: it expired at ${expired.toISOString()}; a fixed token cannot be renewed (give tokenSource)`,
              UNUSABLE_TOKEN,
            );
            return;
          }
          const url = this.urls[this.endpoint % this.urls.length];
          // Built now, as the socket opens; whether it still holds at the 101 is the engine's to say.
          const hello = (attempt = this.earlyHellos.attempt(url, () => listener.hello()));
          try {
            ws = factory(url, token, hello.encoded);
          } catch (e) {
            this.endpoint = (this.endpoint + 1) % this.urls.length;
            listener.onClose(1006, `cannot open a WebSocket: ${String(e)}`);
            return;
          }
          ws.binaryType = "arraybuffer";
          // A refused or failed connection: the close event that follows says so. Handled here so
          // that Node's `ws` does not raise it as an unhandled error. `ws` also says why the upgrade
          // was refused (browsers do not): "Unexpected server response: 401".
          let refusedWith = 0;
          let retryAfterMs: number | undefined;
          // `ws` says when the request never left (no TCP connection, no address): nothing of the Hello.
          let unreached = false;
          ws.onerror = (ev) => {
            const m = /Unexpected server response: (\d+)/.exec(String((ev as { message?: unknown } | undefined)?.message ?? ""));
            if (m) refusedWith = Number(m[1]);
            const syscall = (ev as { error?: { syscall?: unknown } } | undefined)?.error?.syscall;
            if (syscall === "connect" || syscall === "getaddrinfo") unreached = true;
          };
          const socket = ws;
          if (hasTerminate(socket) && hasOn(socket)) {
            // Node's `ws` shows the refusal itself, with its headers: a 429 or 503 may say when to come
            // back (Retry-After). Listened to, the upgrade is no longer aborted by `ws`: this ends it (an
            // error and a close event follow).
            socket.on("unexpected-response", (_req: unknown, res: RefusalResponse) => {
              refusedWith = res.statusCode ?? 0;
              retryAfterMs = retryAfterHeader(res.headers?.["retry-after"]);
              socket.terminate();
            });
          }
          ws.onopen = () => listener.onOpen(hello.open(socket.protocol));
          ws.onmessage = (ev) => {
            let frame: ServerFrame;
            try {
              if (typeof ev.data === "string") throw new Error("a text frame: the protocol is binary");
              frame = fromBinary(ServerFrameSchema, new Uint8Array(ev.data as ArrayBuffer));
            } catch (e) {
              // Terminal, as in the Java client: a server that breaks the protocol will break it again.
              detach();
              // 1000: browsers refuse to send other standard codes (1002 throws), and the Java client sends it too.
              ws?.close(1000, "undecodable frame");
              listener.onClose(PROTOCOL_ERROR, `undecodable data from server: ${String(e)}`);
              return;
            }
            if (frame.body.case === "welcome") hello.welcome(frame.body.value.helloInUpgrade);
            else if (frame.body.case === "disconnect") hello.disconnected(frame.body.value.code);
            else if (frame.body.case === "error" && frame.requestId === HELLO_REQUEST_ID) hello.refused();
            listener.onFrame(frame);
          };
          ws.onclose = (ev) => {
            detach();
            if (unreached) hello.givenUp();
            else hello.ended(ev.code, refusedWith);
            // Closed by the server or the network, not by this client: try the next endpoint.
            this.endpoint = (this.endpoint + 1) % this.urls.length;
            if (refusedWith === 401 || refusedWith === 403) {
              // 4502, as the Java client reports it. A fixed token the server refuses stays refused (the
              // engine stops); a token source may get a good one (it reconnects, fetching another).
              listener.onClose(4502, `the server refused the access token (HTTP ${refusedWith})`);
              return;
            }
            if (refusedWith !== 0) {
              const wait = retryAfterMs === undefined ? "" : `, Retry-After ${retryAfterMs / 1000} s`;
              listener.onClose(1006, `the server refused the upgrade (HTTP ${refusedWith}${wait})`, {
                status: refusedWith,
                retryAfterMs,
              });
              return;
            }
            listener.onClose(ev.code, ev.reason);
          };
        },
        (e) => listener.onClose(1006, `token source failed: ${String(e)}`),
      );
      return {
        send(frame: ClientFrame) {
          if (ws && ws.readyState === 1) ws.send(toBinary(ClientFrameSchema, frame));
        },
        close() {
          const s = ws;
          detach();
          s?.close(1000, "closed by the client");
          // Node's `ws` keeps the socket, and a timer, for 30 s waiting for a hung node's answer to the
          // close frame: the app's process could not exit. The frame has gone by then; the rest is for no one.
          if (s && hasTerminate(s)) {
            const grace = setTimeout(() => s.terminate(), CLOSE_GRACE_MS) as { unref?: () => void };
            grace.unref?.();
          }
        },
        abort: () => {
          const s = ws;
          // Given up on by the client (no Welcome in time, no frame for a heartbeat, dropConnection):
          // a failed attempt or a lost connection too, so the next attempt goes to the next endpoint,
          // as the Java client's does. A node that hangs is not called again and again.
          if (!detached) this.endpoint = (this.endpoint + 1) % this.urls.length;
          if (!detached) attempt?.givenUp();
          detach();
          // As a network failure would: Node's `ws` drops the socket at once (after close() it would wait
          // for the close frame's answer for 30 s, which a node that hangs never sends).
          if (s && hasTerminate(s)) s.terminate();
          else s?.close(1000, "dropped");
        },
      };
    };
  }
}

/** The detail of the client's own 4502 for a token it cannot send: it stops, even with a token source. */
const UNUSABLE_TOKEN = { tokenUnusable: true } as const;

/** What the client reads of a refused upgrade's response, as Node's `ws` hands it over. */
interface RefusalResponse {
  statusCode?: number;
  headers?: Record<string, string | string[] | undefined>;
}

/** Node's `ws` is an EventEmitter (it has `unexpected-response`); a browser's WebSocket is not. */
function hasOn(s: WebSocketLike): s is WebSocketLike & { on(event: string, listener: (...args: any[]) => void): unknown } {
  return typeof (s as { on?: unknown }).on === "function";
}

/**
 * A `Retry-After` in ms when it is in seconds (RFC 9110 10.2.3, as the node sends it); undefined when
 * absent or an HTTP date (which would need the server's clock).
 */
function retryAfterHeader(value: string | string[] | undefined): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  return v !== undefined && /^\d{1,9}$/.test(v) ? Number(v) * 1000 : undefined;
}

function expect<K extends ServerFrame["body"]["case"] & string>(
  f: ServerFrame,
  kind: K,
): Extract<ServerFrame["body"], { case: K }>["value"] {
  if (f.body.case !== kind) {
    throw new HandoffError("UNEXPECTED_ANSWER", `expected ${kind} but the server answered ${String(f.body.case)}`);
  }
  return f.body.value as never;
}
