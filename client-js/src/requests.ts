import { equals } from "@bufbuild/protobuf";
import { HandoffError, OUTCOME_UNKNOWN } from "./errors.js";
import type { Emitter } from "./events.js";
import {
  type Activity,
  ActivitySchema,
  ApprovalOutcome,
  type ApprovalRequest,
  type DevicePresence,
  type Offer,
  OfferOutcome,
  type OfferResult,
  type ServerFrame,
  type Welcome,
} from "./gen/handoff/v1/handoff_pb.js";

/** Handoff and presence events of a client; see {@link HandoffClient.on}. */
export interface HandoffEvents {
  /** Another device's activity changed (undefined: cleared). */
  activity: (deviceId: string, activity: Activity | undefined) => void;
  /** An offer to this device is live: show a prompt. */
  prompt: (offer: Offer) => void;
  /**
   * A prompt ended without this device taking it (taken elsewhere, declined, cancelled, expired);
   * one that ended while the client was disconnected is withdrawn at the reconnect, with
   * `OFFER_OUTCOME_UNSPECIFIED` (how it ended is not known then).
   */
  withdrawn: (offerId: string, outcome: OfferOutcome, byDevice: string) => void;
  /** Devices of the user came online or went offline. */
  presence: (devices: DevicePresence[]) => void;
  /**
   * A new device of the user waits for approval ("is this you?"): show who asks and answer with
   * `client.approvals.answer`. Once per request: the server prompts again after a reconnect for
   * what still waits, which this client does not surface again (`client.approvals.prompts()`
   * holds it again then).
   */
  approvalPrompt: (request: ApprovalRequest) => void;
  /**
   * An approval prompt ended elsewhere (another device answered, this device did from elsewhere such
   * as the HTTP API, or it expired): drop it. One the server did not prompt for again after a
   * reconnect (it ended while this client was away) is withdrawn with `APPROVAL_OUTCOME_UNSPECIFIED`
   * and no device (how it ended is not known then): as soon as the server says it prompted again for
   * every request still waiting, or, from a server that does not say so, at its `expiresMs` by this
   * device's clock.
   */
  approvalWithdrawn: (approvalId: string, outcome: ApprovalOutcome, byDevice: string) => void;
}

/**
 * The errors of requests {@link Requests.register} did not number (too many wait for answers): one
 * that must go all the same (a RefreshToken) goes unnumbered, as in the Java client.
 */
export const NOT_NUMBERED = new WeakSet<HandoffError>();
/** Requests waiting for answers at once; more reject at once with LIMIT_EXCEEDED. */
export const MAX_PENDING_REQUESTS = 1024;

/** Approval prompts kept at once (the server shows at most 64); over it, the oldest goes. */
export const MAX_APPROVAL_PROMPTS = 64;

/**
 * An offer this client made: `created` when the server took it, `result` when it ended. A result
 * that has not come 10 s after the offer's expiry rejects with `OUTCOME_UNKNOWN` (10), not retryable.
 */
export interface OutgoingOffer {
  readonly created: Promise<Offer>;
  readonly result: Promise<OfferResult>;
}

interface Deferred<T> {
  resolve: (v: T) => void;
  reject: (e: HandoffError) => void;
}

/**
 * Told, synchronously, as the server's answer to a request is handled: `true` for its answer, `false` for
 * an `Error`, and `false` as {@link Requests.register} refuses it (too many wait). Not told when no answer
 * comes (the connection ended, the client closed).
 */
export type Answered = (ok: boolean) => void;

interface Pending extends Deferred<ServerFrame> {
  answered?: Answered;
}

interface Tracked extends Deferred<OfferResult> {
  promise: Promise<OfferResult>;
  /** Forgets the offer if its result has not come within RESULT_GRACE_MS of its expiry. */
  forget?: ReturnType<typeof setTimeout>;
}

/**
 * How long after an offer's expiry this client still waits for its result (the server sends EXPIRED
 * at the deadline) before it forgets the offer, so an offer whose result never comes (the client
 * stayed away) costs nothing once it is over.
 */
export const RESULT_GRACE_MS = 10_000;

/**
 * The client's side of request/answer frames (by request id), offers it made, prompts shown, and
 * the last known activities and presence of the user's other devices.
 */
export class Requests {
  // Far above anything else a client numbers, so ids never collide.
  private nextId = 1n << 40n;
  private readonly pending = new Map<bigint, Pending>();
  // Requests that wait for the next Welcome to be sent.
  private readonly waiting: { send: () => void; reject: (e: HandoffError) => void }[] = [];
  // Requests waiting for a delay to pass to be sent again (an offer the server refused for now).
  private readonly delays = new Set<{ timer: ReturnType<typeof setTimeout>; reject: (e: HandoffError) => void }>();
  private readonly outgoing = new Map<string, Tracked>();
  /**
   * The result of each offer by the OfferCreated frame that answered it: the result can be handled
   * before the requester reads the answer (both came in one read, whose messages Node's `ws` hands
   * over with no microtask between them), so the requester takes it from its frame, not by offer id.
   */
  private readonly byAnswer = new WeakMap<ServerFrame, Promise<OfferResult>>();
  readonly activities = new Map<string, Activity>();
  readonly prompts = new Map<string, Offer>();
  readonly presence = new Map<string, DevicePresence>();
  /** Approval prompts shown now, in arrival order (the server prompts for at most 64 at once). */
  readonly approvalPrompts = new Map<string, ApprovalRequest>();
  /**
   * Approval prompts surfaced before the last Welcome that the server has not prompted for again:
   * one it does is shown again silently; the rest are withdrawn when the server says it prompted
   * again for all that still wait (`approvalPromptsSent`), or at their deadline from a server that
   * does not say so.
   */
  private readonly carried = new Map<string, ReturnType<typeof setTimeout>>();
  /**
   * What the listeners last heard of activities and prompts, kept from a Welcome taken in until its
   * news is told (undefined otherwise), so that a Welcome whose news never is (its connection ended
   * first) is told with the next one.
   */
  private told?: { activities: Map<string, Activity>; prompts: Map<string, Offer> };

  constructor(private readonly events: Emitter<HandoffEvents>) {}

  /**
   * Numbers a request; `answer` settles with the server's answer. `answered` hears of that answer as it
   * is handled, a microtask before the promise's continuations run: what the connection's end handled in
   * the same tick does must not take an answer that came for no answer.
   */
  register(answered?: Answered): { id: bigint; answer: Promise<ServerFrame> } {
    let d!: Pending;
    const answer = new Promise<ServerFrame>((resolve, reject) => (d = { resolve, reject, answered }));
    if (this.pending.size >= MAX_PENDING_REQUESTS) {
      const full = HandoffError.limit(`${MAX_PENDING_REQUESTS} handoff requests are waiting for answers`);
      NOT_NUMBERED.add(full);
      answered?.(false);
      d.reject(full);
      return { id: 0n, answer };
    }
    const id = this.nextId++;
    this.pending.set(id, d);
    return { id, answer };
  }

  /** Runs `send` after the next Welcome; rejects instead if the client stops first or too many wait. */
  afterWelcome(send: () => void, reject: (e: HandoffError) => void): void {
    if (this.pending.size + this.waiting.length + this.delays.size >= MAX_PENDING_REQUESTS) {
      reject(HandoffError.limit(`${MAX_PENDING_REQUESTS} handoff requests wait to be sent`));
      return;
    }
    this.waiting.push({ send, reject });
  }

  /**
   * Resolves once `ms` have passed, for a request to be sent again then; rejects at once if too many
   * requests wait already (those waiting here count among them meanwhile), and as the client closes
   * (with its error, without waiting out the delay), as the Java client's `later`.
   */
  later(ms: number): Promise<void> {
    if (this.pending.size + this.waiting.length + this.delays.size >= MAX_PENDING_REQUESTS) {
      return Promise.reject(HandoffError.limit(`${MAX_PENDING_REQUESTS} handoff requests wait to be sent`));
    }
    return new Promise((resolve, reject) => {
      const delay = {
        timer: setTimeout(() => {
          this.delays.delete(delay);
          resolve();
        }, ms),
        reject,
      };
      this.delays.add(delay);
    });
  }

  /** The client stopped for good: requests waiting for a Welcome reject with `error`. */
  stopWaiting(error: HandoffError): void {
    this.takeWaiting()(error);
  }

  /**
   * Takes the requests waiting for a Welcome; the returned call rejects them. Requests made in
   * between (by a listener that hears the client stopped) wait for the next Welcome.
   */
  takeWaiting(): (error: HandoffError) => void {
    const taken = this.waiting.splice(0);
    return (error) => {
      for (const w of taken) w.reject(error);
    };
  }

  /**
   * The result of the offer that `answer`, its OfferCreated, created (tracked as the answer was
   * handled), whether it has settled or not.
   */
  resultOf(answer: ServerFrame): Promise<OfferResult> {
    const r = this.byAnswer.get(answer);
    return r ?? Promise.reject(new HandoffError("UNEXPECTED_ANSWER", "the server's answer to the offer holds no offer"));
  }

  /** Offers this client made whose results it still waits for. */
  get outgoingOffers(): number {
    return this.outgoing.size;
  }

  connectionLost(error: HandoffError): void {
    const waiting = [...this.pending.values()];
    this.pending.clear();
    for (const d of waiting) d.reject(error);
  }

  closed(error: HandoffError): void {
    this.connectionLost(error);
    for (const t of this.carried.values()) clearTimeout(t);
    this.carried.clear();
    this.stopWaiting(error);
    for (const d of this.delays) {
      clearTimeout(d.timer);
      d.reject(error);
    }
    this.delays.clear();
    for (const o of this.outgoing.values()) {
      clearTimeout(o.forget);
      o.reject(error);
    }
    this.outgoing.clear();
  }

  /** The result of offer `offerId` came: it is no longer held. */
  private resolved(offerId: string, result: OfferResult): void {
    const o = this.outgoing.get(offerId);
    if (!o) return;
    this.outgoing.delete(offerId);
    clearTimeout(o.forget);
    o.resolve(result);
  }

  /**
   * A Welcome says what is live now: it becomes what {@link activities}, {@link prompts} and
   * {@link presence} hold at once, before the client says it is connected, so whoever reads them from
   * then on (a listener of the "connected" state, a continuation of `connect()`) sees this
   * connection's view, not the one from before the reconnect. Returns what is still to be done, run
   * once the client said so: what ended while this client was away is withdrawn (or cleared) for the
   * listeners, what is new or changed announced, and what they already know left as it is (as the
   * Java client does); results of offers that ended meanwhile are handed over, and requests waiting
   * for the Welcome sent. A Welcome whose rest is never run (its connection ended first) leaves the
   * listeners where they were: the next Welcome is told against what they heard last.
   */
  welcomed(w: Welcome): () => void {
    if (this.told === undefined) this.told = { activities: new Map(this.activities), prompts: new Map(this.prompts) };
    const hadPrompts = new Map(this.told.prompts);
    const hadActivities = new Map(this.told.activities);
    this.prompts.clear();
    // The server prompts again for what still waits, after this Welcome; a prompt it does not
    // prompt for again ended while this client was away and goes at its deadline.
    for (const [id, r] of this.approvalPrompts) this.carry(id, r);
    this.approvalPrompts.clear();
    this.activities.clear();
    this.presence.clear();
    const changed: Activity[] = [];
    for (const a of w.activities) {
      this.activities.set(a.deviceId, a);
      const had = hadActivities.get(a.deviceId);
      hadActivities.delete(a.deviceId);
      if (!had || !equals(ActivitySchema, had, a)) changed.push(a);
    }
    const prompted: Offer[] = [];
    for (const o of w.offers) {
      this.prompts.set(o.offerId, o);
      if (!hadPrompts.delete(o.offerId)) prompted.push(o);
    }
    for (const p of w.presence) this.presence.set(p.deviceId, p);
    return () => {
      this.told = undefined;
      for (const a of changed) this.events.emit("activity", a.deviceId, a);
      for (const gone of hadActivities.keys()) this.events.emit("activity", gone, undefined);
      for (const o of prompted) this.events.emit("prompt", o);
      // Ended while this client was away; how is not known here.
      for (const gone of hadPrompts.keys()) this.events.emit("withdrawn", gone, OfferOutcome.OFFER_OUTCOME_UNSPECIFIED, "");
      for (const r of w.offerResults) this.resolved(r.offerId, r); // It ended while this client was away.
      if (w.presence.length > 0) this.events.emit("presence", w.presence);
      for (const r of this.waiting.splice(0)) r.send();
    };
  }

  /** Approval prompts are shown, or carried from before a reconnect: the next Hello says so. */
  holdsApprovalPrompts(): boolean {
    return this.approvalPrompts.size > 0 || this.carried.size > 0;
  }

  private carry(id: string, r: ApprovalRequest): void {
    clearTimeout(this.carried.get(id));
    const left = Math.min(Math.max(0, Number(r.expiresMs) - Date.now()), 0x7fffffff);
    this.carried.set(
      id,
      setTimeout(() => {
        if (this.carried.delete(id)) this.endedWhileAway(id);
      }, left),
    );
  }

  /** A carried prompt ended while this client was away; how is not known. */
  private endedWhileAway(id: string): void {
    this.events.emit("approvalWithdrawn", id, ApprovalOutcome.APPROVAL_OUTCOME_UNSPECIFIED, "");
  }

  /** A carried prompt is shown or ended again: true if it was carried. */
  private uncarry(id: string): boolean {
    const t = this.carried.get(id);
    if (t === undefined) return false;
    clearTimeout(t);
    this.carried.delete(id);
    return true;
  }

  /** An Error frame; true if it answered a request. */
  onError(frame: ServerFrame): boolean {
    const d = this.pending.get(frame.requestId);
    if (!d || frame.body.case !== "error") return false;
    this.pending.delete(frame.requestId);
    d.answered?.(false);
    d.reject(HandoffError.fromFrame(frame.body.value));
    return true;
  }

  onFrame(frame: ServerFrame): void {
    const b = frame.body;
    switch (b.case) {
      case "activityUpdate":
        if (frame.requestId === 0n) {
          const a = b.value.activity;
          if (a) this.activities.set(b.value.deviceId, a);
          else this.activities.delete(b.value.deviceId);
          this.events.emit("activity", b.value.deviceId, a);
        }
        break;
      case "offerPrompt": {
        const o = b.value.offer;
        if (o && !this.prompts.has(o.offerId)) {
          this.prompts.set(o.offerId, o);
          this.events.emit("prompt", o);
        }
        break;
      }
      case "offerWithdrawn":
        if (this.prompts.delete(b.value.offerId) && frame.requestId === 0n) {
          this.events.emit("withdrawn", b.value.offerId, b.value.outcome, b.value.byDevice);
        }
        break;
      case "offerCreated": {
        // Tracked before the answer is delivered: a result in the same read must find it, and the
        // requester finds it by this frame even if that result settled it before the requester ran.
        const o = b.value.offer;
        if (o && frame.requestId !== 0n && this.pending.has(frame.requestId)) {
          let t!: Tracked;
          const promise = new Promise<OfferResult>((resolve, reject) => (t = { resolve, reject, promise: undefined! }));
          promise.catch(() => {});
          t.promise = promise;
          const lifetime = Math.max(0, Math.min(Number(o.expiresMs - o.createdMs), 0x7fffffff - RESULT_GRACE_MS));
          t.forget = setTimeout(() => {
            if (this.outgoing.get(o.offerId) !== t) return;
            this.outgoing.delete(o.offerId);
            // OUTCOME_UNKNOWN with its number (10), not retryable, as the Java client reports it.
            t.reject(
              new HandoffError(
                "OUTCOME_UNKNOWN",
                `offer ${o.offerId} expired ${RESULT_GRACE_MS / 1000} s ago (it was live for ${lifetime} ms) and its ` +
                  "result did not reach this client; it has ended, but how is unknown",
                { errorCode: OUTCOME_UNKNOWN },
              ),
            );
          }, lifetime + RESULT_GRACE_MS);
          this.outgoing.set(o.offerId, t);
          this.byAnswer.set(frame, promise);
        }
        break;
      }
      case "offerGranted":
        if (b.value.offer) this.prompts.delete(b.value.offer.offerId);
        break;
      case "offerResult":
        this.resolved(b.value.offerId, b.value);
        break;
      case "approvalPrompt": {
        const r = b.value.request;
        if (r && frame.requestId === 0n && !this.approvalPrompts.has(r.approvalId)) {
          if (this.approvalPrompts.size >= MAX_APPROVAL_PROMPTS) {
            this.approvalPrompts.delete(this.approvalPrompts.keys().next().value!);
          }
          this.approvalPrompts.set(r.approvalId, r);
          if (!this.uncarry(r.approvalId)) this.events.emit("approvalPrompt", r);
        }
        break;
      }
      case "approvalAnswered":
        this.approvalPrompts.delete(b.value.approvalId);
        this.uncarry(b.value.approvalId);
        break;
      case "approvalWithdrawn":
        if (this.approvalPrompts.delete(b.value.approvalId) || this.uncarry(b.value.approvalId)) {
          this.events.emit("approvalWithdrawn", b.value.approvalId, b.value.outcome, b.value.byDevice);
        }
        break;
      case "approvalPromptsSent": {
        // Every request still waiting was prompted for again since the Welcome: the carried prompts
        // left ended while this client was away.
        const ended = [...this.carried.keys()];
        for (const id of ended) this.uncarry(id);
        for (const id of ended) this.endedWhileAway(id);
        break;
      }
      case "presenceUpdate":
        for (const p of b.value.devices) this.presence.set(p.deviceId, p);
        this.events.emit("presence", b.value.devices);
        break;
      default:
        break;
    }
    if (frame.requestId !== 0n) {
      const d = this.pending.get(frame.requestId);
      if (d) {
        this.pending.delete(frame.requestId);
        d.answered?.(true);
        d.resolve(frame);
      }
    }
  }
}
