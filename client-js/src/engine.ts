// Over 600 lines because it is the client's one state machine: the connection's lifecycle (connect,
// Welcome, reconnect, stop) and the dispatch of every frame share the current link and its state; the
// parts with a state of their own are modules of their own.
import { create } from "@bufbuild/protobuf";
import { type Backoff, UNAVAILABLE_BACKOFF_MAX_MS } from "./backoff.js";
import type { Document, DocumentChange, WriteSink } from "./document.js";
import { HandoffError } from "./errors.js";
import type { Emitter } from "./events.js";
import {
  type ClientFrame,
  ClientFrameSchema,
  type Error as ErrorFrame,
  type FieldOp,
  type FollowSpec,
  FollowSpecSchema,
  type ServerFrame,
  type Welcome,
} from "./gen/handoff/v1/handoff_pb.js";
import { type CarriedHello, helloHolds } from "./early-hello.js";
import { Follows } from "./follows.js";
import { type LifecycleListener, PageLifecycle } from "./page-lifecycle.js";
import type { Answered, Requests } from "./requests.js";
import {
  type CloseDetail,
  type Connector,
  type FrameChannel,
  type FrameListener,
  isHandoffCode,
  isReconnectCode,
  Link,
  newInstance,
} from "./connection.js";
import { Replicas } from "./replicas.js";
import { Saver, type Taken } from "./saver.js";
import type { EngineConfig } from "./options.js";
import type { OfflineStore, StoredState } from "./store.js";
import { TokenRefresher } from "./token-refresh.js";
import { WriteSender } from "./write-sender.js";

export type ConnectionState = "closed" | "connecting" | "connected" | "reconnecting";

/** Events of a client; see {@link HandoffClient.on}. */
export interface ClientEvents {
  /** A document's replica changed. */
  change: (change: DocumentChange) => void;
  /** A (re)connection has caught up: everything its Welcome announced has arrived. Once per connection. */
  synced: () => void;
  state: (state: ConnectionState, closeCode: number, reason: string) => void;
  /** The server took a fresh access token in band; the connection now expires at this time (ms). */
  tokenRefreshed: (expiresAtMs: bigint) => void;
  /** An error not tied to a pending promise (an Error frame without a write, a failed token fetch). */
  error: (error: HandoffError) => void;
  /**
   * The server sent another device's delta out of turn on a connection that had caught up, for a
   * document this connection had not asked to repair: a version the replica held (`received <= held`:
   * sent twice, or behind a later one) or one past the next (its predecessor had not come). The client
   * repairs it by itself; a server that keeps its promises never does it, so this is for monitoring.
   */
  deltaOutOfTurn: (document: string, held: bigint, received: bigint) => void;
}

/** How long a connection must last for the reconnect backoff to start over when it ends. */
export const STABLE_CONNECTION_MS = 10_000;
const NORMAL_CLOSURE = 1000;
// The request id of every Hello (as the Java client's): an Error carrying it before the Welcome refuses the Hello.
export const HELLO_REQUEST_ID = 1n;
export const ABNORMAL_CLOSURE = 1006;
// The server closed because its store was unreachable while syncing.
const STORE_UNAVAILABLE = 4005;
// Credentials not accepted: a refused upgrade, or (from a proxy, not the node) a close in band.
const UNAUTHORIZED = 4502;
// Another connection of the device took over (terminal, but for one of this client's own attempts).
const REPLACED = 4504;

/**
 * The client's protocol state machine: the connection's lifecycle (connect, Hello and resume,
 * reconnect, offline, close) and what each frame of the server means. It knows nothing of sockets:
 * it opens connections through a {@link Connector} and hears of them through {@link FrameListener}
 * calls. The local replicas are its {@link Replicas}' and the pending writes its
 * {@link WriteSender}'s: the engine hands each the frames about them and tells both of each
 * Welcome, each lost connection and the end. Its {@link TokenRefresher} answers TokenExpiring, and its
 * {@link Follows} keeps what the client follows.
 */
export class SyncEngine implements WriteSink, LifecycleListener {
  state: ConnectionState = "closed";
  userId?: string;
  deviceId?: string;

  private readonly replicas: Replicas;
  private readonly writes: WriteSender;
  private readonly tokens: TokenRefresher;
  private link?: Link;
  private reconnectTimer?: ReturnType<typeof setTimeout>;
  private connecting?: { promise: Promise<void>; resolve: () => void; reject: (e: HandoffError) => void };
  private closedByUser = false;
  /** Why the client stopped connecting for good, until connect() is called again. */
  private stoppedWith?: HandoffError;
  private readonly page = new PageLifecycle(this);
  private paused = false;
  /** The page is in the browser's back/forward cache: see {@link LifecycleListener.setPaused}. */
  private cached = false;
  private loaded?: Promise<void>;
  private storeLoaded = false;
  private readonly saver: Saver;
  private readonly follows: Follows;
  // This client object's Hello.instance (newInstance): the same in every Hello, never persisted.
  private readonly instance = newInstance();

  constructor(
    private readonly config: EngineConfig,
    private readonly connector: Connector,
    private readonly backoff: Backoff,
    private readonly events: Emitter<ClientEvents>,
    readonly requests: Requests,
    private readonly store: OfflineStore,
  ) {
    this.replicas = new Replicas(this, backoff, {
      current: () => this.link,
      persist: () => this.persist(),
      changed: (change) => this.emitChange(change),
      synced: () => this.events.emit("synced"),
      deviceId: () => this.deviceId,
      outOfTurn: (document, held, received) => this.events.emit("deltaOutOfTurn", document, held, received),
    });
    this.writes = new WriteSender(config.maxPendingWrites, config.maxInFlightWrites, config.maxUnackedWriteBytes, backoff, {
      current: () => this.link,
      deviceId: () => this.deviceId,
      durable: () => this.store.durable,
      persist: () => this.persist(),
      changed: (change) => this.emitChange(change),
    });
    this.tokens = new TokenRefresher(backoff, {
      tokenSource: () => this.config.refreshToken,
      current: () => this.link,
      request: (frame) => this.request(frame),
      failed: (error) => this.events.emit("error", error),
    });
    this.follows = new Follows(config, {
      current: () => this.link,
      hello: () => this.hello(),
      request: (frame, answered) => this.request(frame, answered),
      positions: () => this.replicas.positions(),
    });
    this.saver = new Saver(store, () => this.snapshot(), (e) => this.events.emit("error", e), backoff);
  }

  // ---------------------------------------------------------------------------------------------
  // Public operations

  document(name: string): Document {
    return this.replicas.document(name);
  }

  /** Loads the store (once), then connects; resolves at the first Welcome. */
  connect(): Promise<void> {
    if (this.closedByUser) return Promise.reject(HandoffError.clientClosed());
    this.page.attach();
    if (!this.connecting || this.state === "closed") {
      let resolve!: () => void;
      let reject!: (e: HandoffError) => void;
      const promise = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.connecting = { promise, resolve, reject };
    }
    const result = this.connecting.promise;
    if (this.state === "closed") {
      this.stoppedWith = undefined;
      this.setState("connecting", 0, "");
      this.load().then(
        () => this.attempt(),
        (e) => this.closedByUser || this.terminate(0, `cannot load the offline store: ${String(e)}`),
      );
    }
    return result;
  }

  /** Resolves once the offline store has been read (and its writes queued); a failed read is tried again next time. */
  load(): Promise<void> {
    const loaded = (this.loaded ??= this.store.load(this).then((s) => {
      this.restore(s);
      this.storeLoaded = true;
    }));
    loaded.catch(() => this.loaded === loaded && !this.closedByUser && (this.loaded = undefined));
    return loaded;
  }

  submitWrite(document: Document, ops: FieldOp[], expectedVersion: bigint | undefined): Promise<bigint> {
    if (this.closedByUser) return Promise.reject(HandoffError.clientClosed());
    return this.writes.submit(document, ops, expectedVersion);
  }

  /** Sends a request frame (handoff, devices, follow) on the current connection; resolves with its answer. */
  request(frame: ClientFrame, answered?: Answered): Promise<ServerFrame> {
    const l = this.link;
    if (!l || !l.welcomed) {
      return Promise.reject(new HandoffError("NOT_CONNECTED", "not connected; try again once connected", { retryable: true }));
    }
    const { id, answer } = this.requests.register(answered);
    if (id > 0n) {
      frame.requestId = id;
      l.channel!.send(frame);
    }
    return answer;
  }

  /**
   * As {@link request}, but a request made while disconnected (also before the first connect()) waits
   * for the next Welcome (it rejects if the client is closed, or stops for good, first).
   */
  requestOnceConnected(frame: ClientFrame): Promise<ServerFrame> {
    if (this.closedByUser) return Promise.reject(HandoffError.clientClosed());
    // As the Java client: the error the client stopped with (a terminal close's, with its code), until
    // connect() is called again. One made before the first connect() waits for its Welcome: nothing
    // stopped the client.
    if (this.stoppedWith) return Promise.reject(this.stoppedWith);
    if (this.link?.welcomed) return this.request(frame);
    return new Promise((resolve, reject) =>
      this.requests.afterWelcome(() => this.requestOnceConnected(frame).then(resolve, reject), reject),
    );
  }

  /** Changes what this client follows, as the app's `call`; see {@link Follows}. Fails with CLIENT_CLOSED once closed, as in the Java client. */
  follow(spec: { documents?: string[]; prefixes?: string[] }, add: boolean, call = add ? "follow" : "unfollow"): Promise<void> {
    return this.closedByUser ? Promise.reject(HandoffError.clientClosed()) : this.follows.change(spec, add, call);
  }

  /** Cuts the connection as a network failure would; the client reconnects and resumes. */
  dropConnection(reason = "dropped by the client"): void {
    const l = this.link;
    if (l?.channel) {
      l.channel.abort();
      this.onClosed(l, ABNORMAL_CLOSURE, reason);
    }
  }

  /**
   * Offline mode (`why` "paused", the app's): `true` closes the connection and stops reconnecting (writes
   * queue and are kept); `false` connects again, unless the other reason ("cached") still holds.
   */
  setPaused(paused: boolean, why: "paused" | "cached" = "paused"): void {
    if (this[why] === paused || this.closedByUser) return;
    this[why] = paused;
    if (paused) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      const l = this.link;
      this.link = undefined;
      l?.channel?.close();
      if (l) l.stop();
      this.follows.lost();
      this.connectionLost();
      const reason = why === "paused" ? "offline" : "the page went into the back/forward cache";
      if (this.state !== "closed") this.setState("reconnecting", NORMAL_CLOSURE, reason);
    } else if (this.state !== "closed" && !this.paused && !this.cached) {
      this.backoff.reset();
      this.attempt();
    }
  }

  get offline(): boolean {
    return this.paused;
  }

  /** Writes not yet acked (sent or waiting). */
  pendingWrites(): number {
    return this.writes.pending;
  }

  /** The browser says the network is back (its `online` event): see {@link LifecycleListener.networkBack}. */
  networkBack(): void {
    if (this.closedByUser || this.paused || this.cached) return;
    if (this.reconnectTimer === undefined) return this.link?.networkBack();
    clearTimeout(this.reconnectTimer);
    this.backoff.reset();
    this.attempt();
  }

  /** The page is shown again, or the network changed: see {@link LifecycleListener.checkConnection}. */
  checkConnection = (why: string) => this.link?.probe(why);

  /** The browser says the network is gone (its `offline` event): see {@link LifecycleListener.networkGone}. */
  networkGone(): void {
    if (!this.closedByUser && !this.paused && !this.cached) this.dropConnection("the browser went offline");
  }

  /** Closes for good. Pending promises reject with CLIENT_CLOSED; a durable store keeps their writes. */
  async close(): Promise<void> {
    if (this.closedByUser) return;
    this.closedByUser = true;
    this.page.detach();
    clearTimeout(this.reconnectTimer);
    this.replicas.close();
    const l = this.link;
    this.link = undefined;
    l?.stop();
    l?.channel?.close();
    // Requests waiting for answers fail as closed, not as lost (which says to send them again), as in
    // the Java client.
    this.requests.connectionLost(HandoffError.clientClosedUnanswered());
    this.connectionLost();
    this.setState("closed", NORMAL_CLOSURE, "closed by the client");
    this.events.close(); // "closed" is the last event, also for a close() from a listener.
    const closed = HandoffError.clientClosed();
    this.writes.stop();
    this.requests.closed(closed);
    this.connecting?.reject(closed);
    // Never loaded, or its load failed (which may have taken the store's key): the key is given back.
    if (!this.loaded) return void (this.writes.close(closed, false), this.store.close?.(this));
    if (!this.storeLoaded) this.store.close?.(this); // A load still waiting for the store's key gives up.
    await this.loaded.catch(() => {});
    // The writes' promises say whether the store kept them, so they wait for the last save.
    this.writes.close(closed, this.storeLoaded, this.storeLoaded ? await this.saver.close() : undefined);
    this.store.close?.(this);
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  private attempt(): void {
    this.reconnectTimer = undefined;
    if (this.closedByUser || this.paused || this.cached || this.state === "closed" || this.link) return;
    // Not before the store was read (connect() attempts once it was), also when offline mode or the
    // back/forward cache ends first: the Hello would lack the positions held, and a store whose key
    // another tab holds would have two clients of one state.
    if (!this.storeLoaded) return;
    const link = new Link(this);
    this.link = link;
    try {
      link.channel = this.connector(link);
    } catch (e) {
      this.link = undefined;
      // The cause's message, as the Java client words it (not "Error: ...").
      const why = e instanceof Error ? e.message : String(e);
      this.events.emit("error", new HandoffError("CONNECTION_LOST", `cannot start a connection attempt: ${why}`, { retryable: true }));
      this.setState("reconnecting", 0, String(e));
      this.scheduleReconnect();
      return;
    }
    link.timer = setTimeout(() => {
      if (this.link === link && !link.welcomed) {
        link.channel?.abort();
        this.onClosed(link, ABNORMAL_CLOSURE, `no Welcome within ${this.config.connectTimeoutMs} ms`);
      }
    }, this.config.connectTimeoutMs);
  }

  /**
   * The next attempt after the backoff, at most `capMs` (`atOnce`: now, the backoff started over);
   * at least a refusal's `Retry-After` (bounded, with jitter) when it said one.
   */
  private scheduleReconnect(capMs = Infinity, retryAfterMs?: number, atOnce = false): void {
    // A listener of the "reconnecting" just told may have closed the client (a timer then would keep
    // Node running for up to reconnect.maxMs), gone offline, or made an attempt already.
    if (this.closedByUser || this.paused || this.cached || this.state === "closed" || this.link) return;
    if (atOnce) this.backoff.reset();
    let delay = atOnce ? 0 : this.backoff.next(capMs);
    if (retryAfterMs !== undefined) delay = Math.max(delay, this.backoff.retryAfter(retryAfterMs));
    this.reconnectTimer = setTimeout(() => this.attempt(), delay);
  }

  /** @internal The Hello that opens a connection: in its upgrade request, or as its first frame. */
  hello(): ClientFrame {
    const c = this.config;
    const hello = {
      client: c.clientName,
      positions: this.replicas.positions(),
      follow: c.followAll
        ? undefined
        : create(FollowSpecSchema, { documents: c.followDocuments, prefixes: c.followPrefixes }),
      // Prompts held from before: the server then says when it has prompted again for every one still
      // waiting, and the others are withdrawn at once, not at their deadlines.
      approvalPromptsHeld: this.requests.holdsApprovalPrompts(),
      instance: this.instance,
    };
    return create(ClientFrameSchema, { requestId: HELLO_REQUEST_ID, body: { case: "hello", value: hello } });
  }

  /**
   * @internal The socket of `l` opened; `carried`: the Hello its upgrade carried (built as the socket was
   * opened). One the 101 does not say was read goes again as the first frame, the very one: something
   * between may have dropped the subprotocol from the 101 of a node that read it, which answers nothing only
   * to the same Hello. It may say what holds no more (see {@link helloHolds}): the connection is then left,
   * and the next goes at once, carrying the Hello of now.
   */
  onOpen(l: Link, carried?: CarriedHello): void {
    const hello = this.hello();
    if (!carried) l.channel!.send((l.helloSent = hello));
    else if (!helloHolds(carried.frame, hello)) l.restart("the follow set changed while connecting");
    else {
      l.helloSent = carried.frame;
      if (!carried.read) l.channel!.send(carried.frame);
    }
  }

  /** @internal */
  onClosed(l: Link, code: number, reason: string, detail: CloseDetail = {}): void {
    if (this.link !== l) return;
    this.link = undefined;
    l.stop();
    this.connectionLost();
    if (this.closedByUser || this.paused || this.cached) return;
    let closeCode = code;
    let why = reason;
    // The node's Disconnect says why it closed; a close without a Handoff code after it (none at all,
    // 1006, or a standard code a proxy put in its place) does not know better.
    if (!isHandoffCode(code) && l.disconnectCode !== 0) {
      closeCode = l.disconnectCode;
      why = l.disconnectReason;
    }
    // A 4502 (an upgrade refused with 401 or 403, or a proxy's in band: the node never closes with it)
    // with a token source: the next attempt fetches another token, as the Java client does. Not a token
    // this client cannot send.
    const renewable = closeCode === UNAUTHORIZED && this.config.refreshToken !== undefined && !detail.tokenUnusable;
    // REPLACED by an attempt of this client's own, left before its 101 and set up by the node after this
    // connection: no other instance to give way to. One that names another instance, or none, is terminal.
    const replacedByItsOwn = closeCode === REPLACED && l.replacedBy === this.instance;
    if (isReconnectCode(closeCode) || renewable || replacedByItsOwn) {
      this.follows.lost();
      // The backoff starts over only after a connection that lasted: a node that welcomes and then
      // drops every connection at once is not called back at the shortest delay for ever.
      if (l.welcomed && Date.now() - l.welcomedAt >= STABLE_CONNECTION_MS) this.backoff.reset();
      this.setState("reconnecting", closeCode, why);
      // 4005, or an upgrade refused with 503 (the node's store check, or a proxy in front of a node that
      // drains): the store or the node, not the network: come back soon, to another node if any. A 429 or
      // 503 with Retry-After waits at least that long.
      const status = detail.status;
      const soon = closeCode === STORE_UNAVAILABLE || status === 503;
      const retryAfter = status === 429 || status === 503 ? detail.retryAfterMs : undefined;
      this.scheduleReconnect(soon ? UNAVAILABLE_BACKOFF_MAX_MS : Infinity, retryAfter, l.retryAtOnce);
    } else if (detail.tokenUnusable) {
      // The client's own stop, not the server's close: reported as an error too, as the Java client does.
      const unusable = HandoffError.closed(closeCode, why);
      this.stop(unusable, closeCode, why);
      this.events.emit("error", unusable);
    } else {
      this.terminate(closeCode, why);
    }
  }

  /**
   * The server answered the Hello with an Error instead of a Welcome: what the Hello carries (the
   * follow set or the positions) is over a limit of the server's. The same Hello would be refused
   * again, so the client stops, with the server's reason, instead of reconnecting. A refusal the
   * server marks retryable is reported and treated as a lost connection (reconnect with backoff),
   * as the Java client does.
   */
  private helloRefused(l: Link, error: ErrorFrame): void {
    if (error.retryable) {
      this.events.emit("error", HandoffError.fromFrame(error));
      l.channel?.abort();
      this.onClosed(l, ABNORMAL_CLOSURE, `the server refused the Hello for now: ${error.message}`);
      return;
    }
    this.link = undefined;
    l.stop();
    l.channel?.close();
    this.connectionLost();
    // As the Java client: the state closes without a close code (the server closed nothing), and the
    // connect, the writes and the waiting requests fail with the server's refusal itself.
    const refused = HandoffError.fromFrame(error, undefined, "the server refused the Hello: ");
    this.stop(refused, 0, refused.message);
    this.events.emit("error", refused);
  }

  private terminate(closeCode: number, reason: string): void {
    this.stop(HandoffError.closed(closeCode, reason), closeCode, reason);
  }

  /** Stops connecting for good: "closed", and the connect, the writes and the waiting requests fail with `closed`. */
  private stop(closed: HandoffError, closeCode: number, reason: string): void {
    this.stoppedWith = closed;
    // What this stop ends is set aside before the listeners hear "closed": one that connects again or
    // writes starts afresh, and its connect and writes are not failed here (as in the Java client).
    const connecting = this.connecting;
    this.connecting = undefined;
    const failWrites = this.writes.terminate(closed);
    const failWaiting = this.requests.takeWaiting();
    this.persist();
    this.setState("closed", closeCode, reason);
    failWrites();
    failWaiting(closed);
    connecting?.reject(closed);
  }

  private connectionLost(): void {
    this.requests.connectionLost(
      new HandoffError(
        "CONNECTION_LOST",
        "the connection ended before the answer; the request may or may not have been applied",
        { mayHaveBeenApplied: true, retryable: true },
      ),
    );
    this.writes.connectionLost();
    this.replicas.connectionLost();
  }

  private setState(next: ConnectionState, closeCode: number, reason: string): void {
    if (this.state === next) return;
    this.state = next;
    this.events.emit("state", next, closeCode, reason);
  }

  // ---------------------------------------------------------------------------------------------
  // Frames

  /** @internal */
  onFrame(l: Link, frame: ServerFrame): void {
    const b = frame.body;
    switch (b.case) {
      case "welcome":
        return this.onWelcome(l, b.value);
      case "ack":
        return this.writes.onAck(b.value);
      case "delta": {
        const d = this.replicas.onDelta(l, b.value);
        if (d) this.writes.onDelta(d, b.value);
        return;
      }
      case "snapshot":
        return this.replicas.onSnapshot(l, b.value);
      case "syncReport":
        this.replicas.onSyncReport(b.value);
        if (frame.requestId !== 0n) this.requests.onFrame(frame);
        return;
      case "error":
        if (!l.welcomed && frame.requestId === HELLO_REQUEST_ID) return this.helloRefused(l, b.value);
        if (!this.requests.onError(frame)) this.onError(l, b.value);
        return;
      case "tokenExpiring":
        return this.tokens.onTokenExpiring(l);
      case "disconnect":
        l.disconnectCode = b.value.code;
        l.disconnectReason = b.value.reason;
        l.replacedBy = b.value.replacedByInstance;
        return;
      case "tokenRefreshed":
        this.events.emit("tokenRefreshed", b.value.expiresAtMs);
        this.requests.onFrame(frame); // The answer to a numbered RefreshToken.
        return;
      case "pong":
        return;
      default:
        this.requests.onFrame(frame);
    }
  }

  private onWelcome(l: Link, welcome: Welcome): void {
    if (this.userId !== undefined && (this.userId !== welcome.userId || this.deviceId !== welcome.deviceId)) {
      // The held state is another device's: it must not be re-sent under this identity.
      // A token this client cannot use, as the Java client reports it: 4502, and an error event.
      this.link = undefined;
      l.stop();
      l.channel!.close();
      this.connectionLost();
      const why =
        `the access token cannot be used: it is for ${welcome.userId}/${welcome.deviceId} but this client holds ` +
        `the state of ${this.userId}/${this.deviceId}: build a client per user and device`;
      const other = HandoffError.closed(UNAUTHORIZED, why);
      this.stop(other, UNAUTHORIZED, why);
      this.events.emit("error", other);
      return;
    }
    l.welcomed = true;
    l.welcomedAt = Date.now();
    clearTimeout(l.timer);
    this.userId = welcome.userId;
    this.deviceId = welcome.deviceId;
    this.writes.welcomed(welcome);
    l.startHeartbeat(welcome.heartbeatIntervalMs, this.config.heartbeatMarginMs);
    // Activities, prompts and presence are this Welcome's before anyone hears "connected".
    const handoffNews = this.requests.welcomed(welcome);
    this.setState("connected", 0, "");
    this.connecting?.resolve();
    // A listener may have closed the client, or dropped this connection: the rest of this Welcome is
    // then for no one.
    if (this.link !== l) return;
    this.replicas.welcomed(l, welcome);
    if (this.link !== l) return;
    handoffNews();
    this.persist();
    this.writes.pump();
    this.replicas.checkSynced(l);
  }

  private onError(l: Link, error: ErrorFrame): void {
    if (error.clientSeq === 0n && this.replicas.resyncRefused(l, error)) return;
    if (!this.writes.onError(l, error)) this.events.emit("error", HandoffError.fromFrame(error));
  }

  private emitChange(change: DocumentChange): void {
    this.events.emit("change", change);
  }

  // ---------------------------------------------------------------------------------------------
  // Offline store

  private restore(s: StoredState | undefined): void {
    if (!s) return;
    this.userId = s.userId;
    this.deviceId = s.deviceId;
    this.replicas.restore(s.documents);
    this.writes.restore(s.nextSeq, s.writes, (name) => this.replicas.document(name));
  }

  private snapshot(): Taken {
    const documents = this.replicas.stored();
    const { nextSeq, writes, kept } = this.writes.stored();
    return { state: { userId: this.userId, deviceId: this.deviceId, nextSeq, documents, writes }, kept };
  }

  /** Saves the state; resolves once a save that includes every change so far has finished (true: it succeeded). */
  private persist(): Promise<boolean> {
    if (!this.loaded) return Promise.resolve(true);
    // Never save before the stored state was taken back: a save then would overwrite it.
    return this.loaded.then(() => this.saver.save(), () => false);
  }
}

export type { CloseDetail, Connector, FrameChannel, FrameListener, FollowSpec };
export { isReconnectCode };
