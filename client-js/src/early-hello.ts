// The Hello sent in the upgrade request instead of as the first frame (docs/protocol.md, "A Hello in
// the upgrade"): what it looks like on the wire, and which URLs get it.
import { clone, equals, toBinary } from "@bufbuild/protobuf";
import { isHandoffCode } from "./connection.js";
import { type ClientFrame, ClientFrameSchema, HelloSchema } from "./gen/handoff/v1/handoff_pb.js";

/** The subprotocol offered with a Hello in the upgrade; the node's 101 selects it when it read the Hello. */
export const HELLO_SUBPROTOCOL = "handoff.hello";
/** The request header that carries it (Node's `ws`). */
export const HELLO_HEADER = "Handoff-Hello";
/** The query parameter that carries it (a browser, which can set no header on a WebSocket). */
export const HELLO_PARAMETER = "hello";
/**
 * The largest Hello frame sent in the upgrade, in bytes, as the Java client's (base64url makes it a third
 * longer); a larger one goes as the first frame.
 */
export const MAX_EARLY_HELLO_BYTES = 1536;
/** The longest request line a node reads ("GET ", the path and query, " HTTP/1.1"); longer, it answers 400. */
export const MAX_REQUEST_LINE = 4096;
/**
 * Attempts carrying the Hello that may fail (see {@link HelloAttempt.ended}), one after another with none
 * carrying it welcomed between them, before a URL gets it no more for the client's life: a browser sees a
 * refusal as a lost connection (1006), and a node that refuses it every time (400 `invalid_hello`, a proxy
 * that mangles it) would otherwise have every other attempt fail.
 */
export const MAX_EARLY_HELLO_FAILURES = 3;
/** The close code a node sends before a Welcome only when no Hello came within its handshake limit. */
const IDLE_TIMEOUT = 4002;

/** `hello` encoded as it travels in the upgrade: base64url (RFC 4648 section 5), no padding. */
export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * `target` with the Hello as its `hello` query parameter, or undefined when the request line would then be
 * longer than a node reads (a long URL, or a long token beside it): the Hello then goes as a frame.
 */
export function withHelloParameter(target: string, hello: string): string | undefined {
  const url = `${target}${target.includes("?") ? "&" : "?"}${HELLO_PARAMETER}=${hello}`;
  let pathAndQuery: string;
  try {
    const parsed = new URL(url);
    pathAndQuery = parsed.pathname + parsed.search;
  } catch {
    return undefined; // The socket's own constructor says what is wrong with the URL.
  }
  return `GET ${pathAndQuery} HTTP/1.1`.length <= MAX_REQUEST_LINE ? url : undefined;
}

/**
 * Which URLs get the Hello in the upgrade, learned per client, in memory. A browser (and Node's `ws`) fails
 * an upgrade whose 101 selects none of the offered subprotocols, so the client offers it only to a URL whose
 * node said, in its latest Welcome, that it reads it. An attempt carrying it that ends before its Welcome
 * (see {@link HelloAttempt.ended}) forgets that, so the next attempt sends the Hello as a frame and its
 * Welcome says again; a 400 (seen in Node: `invalid_hello`, or a request the node cannot read; a 431 or 414
 * too, from something between with a smaller limit: {@link pointsAtHello}), or
 * {@link MAX_EARLY_HELLO_FAILURES} such ends in a row, end it for the URL. Holds one entry per URL of the
 * client's options at most. Not thread-safe: the client's one thread.
 */
export class EarlyHellos {
  /** URLs whose node said in its latest Welcome that it reads the Hello in the upgrade. */
  private readonly accepting = new Set<string>();
  /** Per URL, attempts carrying the Hello that failed since one was welcomed. */
  private readonly failures = new Map<string, number>();

  /** A connection attempt to `url`: with the Hello in its upgrade (built by `hello` now) if the URL gets it. */
  attempt(url: string, hello: () => ClientFrame): HelloAttempt {
    if (!this.accepting.has(url)) return new HelloAttempt(this, url);
    const frame = hello();
    const bytes = toBinary(ClientFrameSchema, frame);
    return bytes.length > MAX_EARLY_HELLO_BYTES ? new HelloAttempt(this, url) : new HelloAttempt(this, url, frame, base64url(bytes));
  }

  /**
   * A Welcome came from `url`'s node, saying whether it reads the Hello in the upgrade; `read`: it read this
   * one's, which says so too (as in the Java client).
   */
  welcomed(url: string, helloInUpgrade: boolean, read: boolean): void {
    if (read) this.failures.delete(url);
    if ((helloInUpgrade || read) && (this.failures.get(url) ?? 0) < MAX_EARLY_HELLO_FAILURES) this.accepting.add(url);
    else this.accepting.delete(url);
  }

  /** An attempt carrying the Hello failed; `status`: the HTTP status of a refusal, 0 when unseen. */
  failed(url: string, status: number): void {
    this.accepting.delete(url);
    this.failures.set(url, pointsAtHello(status) ? MAX_EARLY_HELLO_FAILURES : (this.failures.get(url) ?? 0) + 1);
  }
}

/**
 * Whether a refusal of an upgrade that carried the Hello with `status` ends it for the URL: 400 (the node's
 * `invalid_hello`, or a request something found malformed or too large), 431 Request Header Fields Too Large
 * and 414 URI Too Long (a proxy with a smaller limit than the node's: the request without the Hello is smaller).
 */
export function pointsAtHello(status: number): boolean {
  return status === 400 || status === 414 || status === 431;
}

/** The Hello an upgrade carried, and whether the 101 said the node read it (else it goes again as a frame). */
export interface CarriedHello {
  frame: ClientFrame;
  read: boolean;
}

/** One connection attempt, as far as the Hello in its upgrade goes. */
export class HelloAttempt {
  private opened = false;
  private read = false;
  private welcomed = false;
  private over = false;
  // The code of the node's Disconnect, 0 if none came: it says why the node closed, as the close may not.
  private disconnectCode = 0;

  constructor(
    private readonly hellos: EarlyHellos,
    private readonly url: string,
    private readonly frame?: ClientFrame,
    /** The Hello for the upgrade, base64url; undefined: it goes as a frame. */
    readonly encoded?: string,
  ) {}

  /** The socket opened, the 101 selecting `protocol`: the Hello the upgrade carried, if it did (else build one). */
  open(protocol: string | undefined): CarriedHello | undefined {
    this.opened = true;
    this.read = this.frame !== undefined && protocol === HELLO_SUBPROTOCOL;
    return this.frame && { frame: this.frame, read: this.read };
  }

  /** The node answered the Hello with an Error: it read it, so the attempt's end says nothing of what is between. */
  refused(): void {
    this.over = true;
  }

  /** The node's Disconnect came: it is about to close, with `code`. */
  disconnected(code: number): void {
    this.disconnectCode = code;
  }

  /**
   * The client gave the attempt up (no Welcome within its connect timeout, a failed check,
   * `dropConnection`), or its request never left (`ws`: no TCP connection, no address). Before the 101 that
   * says nothing of the Hello: a refusal, or a 101 without the subprotocol, ends the attempt by itself and at
   * once, so a slow network or a node down it is (the Java client counts neither); after it, the attempt
   * ended as a 1006.
   */
  givenUp(): void {
    if (this.opened) this.ended(1006, 0);
    else this.over = true;
  }

  welcome(helloInUpgrade: boolean): void {
    this.welcomed = true;
    this.hellos.welcomed(this.url, helloInUpgrade, this.read);
  }

  /**
   * The attempt ended, closed with `code` (`status`: a refused upgrade's HTTP status, 0 when unseen) or given
   * up after its 101 (1006; before it, see {@link givenUp}). One carrying the Hello failed if it closed before
   * it opened with no status seen (a browser sees a refusal, and a 101 without the subprotocol, as 1006 before
   * `onopen`; `ws` says "Server sent no subprotocol") or with 400, 431 or 414 (which end it for the URL at
   * once), or opened saying the Hello was read and ended before its Welcome without a close of the node's
   * own (a Handoff code), or with `IDLE_TIMEOUT` (4002), which a node sends before the Welcome only when it
   * has no Hello (its handshake limit, which may come before the client's connect timeout): something
   * between that took the subprotocol for itself and kept the Hello from the node. A refusal for another
   * reason (401, 429, 503) says nothing about the Hello. The Java client's `EarlyHellos` counts the same but
   * for a close before the 101 with no status: it sees every status, so it counts only 400, 431 and 414.
   * A close without a Handoff code after the node's Disconnect (1006, or a standard code a proxy put in its
   * place) is read as the Disconnect's code, as the engine reads it.
   */
  ended(closeCode: number, status: number): void {
    if (this.over || this.frame === undefined || this.welcomed) return;
    this.over = true;
    const code = !isHandoffCode(closeCode) && this.disconnectCode !== 0 ? this.disconnectCode : closeCode;
    const nodesOwn = isHandoffCode(code) && code !== IDLE_TIMEOUT;
    if (this.opened ? !this.read || nodesOwn : status !== 0 && !pointsAtHello(status)) return;
    this.hellos.failed(this.url, status);
  }
}

/**
 * Whether the Hello `sent` in the upgrade, built as the socket was opened, still says what the Hello built
 * `now`, at the 101, says (whether the node read it or it goes again as a frame, the very one). Its
 * positions do: a replica's version moves only on a frame of the current connection (Delta, Snapshot, Ack,
 * SyncReport), and the attempt under way has had none before its 101 (the offline store was read before the
 * first attempt). So do the prompts it says are held, but for one case left out here: a carried prompt
 * that ends at its deadline meanwhile leaves it saying prompts are held, and the node's
 * `ApprovalPromptsSent` then ends no prompt, as for a deadline that passes between a Hello frame and its
 * Welcome (a prompt is shown, and so held, only on a frame of the connection). The
 * follow set may not: `follow()` while not connected changes the next Hello's at once, so one made
 * between the socket's opening and its 101 would be lost on a node that read the older one.
 */
export function helloHolds(sent: ClientFrame, now: ClientFrame): boolean {
  if (sent.body.case !== "hello" || now.body.case !== "hello") return false;
  const held = clone(HelloSchema, now.body.value);
  held.approvalPromptsHeld = sent.body.value.approvalPromptsHeld;
  return equals(HelloSchema, sent.body.value, held);
}
