import { create } from "@bufbuild/protobuf";
import type { Link } from "./connection.js";
import { helloHolds } from "./early-hello.js";
import { type ClientFrame, ClientFrameSchema, FollowSpecSchema, type Position, type ServerFrame } from "./gen/handoff/v1/handoff_pb.js";
import { checkFollowEntries } from "./names.js";
import type { EngineConfig } from "./options.js";
import { HandoffError } from "./errors.js";
import { type Answered, MAX_PENDING_REQUESTS } from "./requests.js";

/** What {@link Follows} needs of its engine. */
export interface FollowsHost {
  /** The connection (or attempt) now, if any. */
  current(): Link | undefined;
  /** The Hello the next connection would send, built now. */
  hello(): ClientFrame;
  /** Sends a numbered request on the welcomed connection; settles with its answer, which `answered` hears of as it comes. */
  request(frame: ClientFrame, answered: Answered): Promise<ServerFrame>;
  /** Every replica's position, for a Follow. */
  positions(): Position[];
}

/**
 * What a client follows, and the app's changes to it at run time (`follow()`, `unfollow()`), as the Java
 * client's `Follows`. The set is the engine config's (`followAll`, `followDocuments`, `followPrefixes`),
 * what every Hello carries. A follow that would put it over the server's limit of entries, with the changes
 * still waiting for answers taken, rejects before anything is sent. While welcomed a change goes as a Follow (with the replicas' positions) or an
 * Unfollow, and the set changes once the server answered it (a SyncReport): a refused one leaves it as it
 * was. The server handles a connection's frames in order, so once the answer to an Unfollow is here no
 * delta of what it removed follows it on this connection; but it answers an Unfollow at once, ahead of a
 * Follow still reading, so changes are taken in the order sent, each once those before it are answered: the
 * set ends as the node's does. A refused one (the server's Error, or too many requests waiting to send it)
 * is dropped at once, and at most {@link MAX_SENT_CHANGES} wait to be taken: more reject at once with
 * LIMIT_EXCEEDED, as requests beyond 1,024 do. One whose connection ends before its answer is taken too, when the client
 * connects again ({@link lost}): the next Hello carries the set, and a change is idempotent. While not
 * welcomed the set changes at once, for the next Hello; a connection whose Hello went out already with the
 * older set is then left, and the next goes at once.
 */
export class Follows {
  // Changes sent, in the order sent, until each and every one before it is answered; a refused one leaves at once.
  private readonly sent: { answered: boolean; taken: boolean; change: Change }[] = [];

  constructor(
    private readonly config: EngineConfig,
    private readonly host: FollowsHost,
  ) {}

  /** Follows (`add`) or unfollows these names and prefixes, as the app's `call` (named in the messages); settles as the class says. */
  async change(spec: { documents?: string[]; prefixes?: string[] }, add: boolean, call: string): Promise<void> {
    const change: Change = { add, documents: [...new Set(spec.documents ?? [])], prefixes: [...new Set(spec.prefixes ?? [])] };
    const c = this.config;
    if (add) {
      // What the server would follow after it (following all is the prefix ""), and what the next Hello
      // would carry, with the changes sent and not refused taken: each may be (one lost with its
      // connection is), and over the limit the server would refuse that Hello, and the client stop for good.
      const after = this.sent.reduce((set, s) => applied(set, s.change), current(c));
      const prefixes = [...(after.all ? [""] : []), ...after.prefixes, ...change.prefixes];
      checkFollowEntries(call, [...after.documents, ...change.documents], prefixes);
    }
    const commit = () => Object.assign(c, followed(applied(current(c), change)));
    const l = this.host.current();
    if (!l || !l.welcomed) {
      commit(); // The next Hello carries the new spec.
      // A Hello that went out already (read or sent at the 101) no longer says it: leave that
      // connection, or the node keeps the older set until the next one.
      if (l?.helloSent && !helloHolds(l.helloSent, this.host.hello())) l.restart("the follow set changed while connecting");
      return;
    }
    if (this.sent.length >= MAX_SENT_CHANGES) {
      throw HandoffError.limit(`${MAX_SENT_CHANGES} follows and unfollows are waiting for answers (theirs or an earlier one's)`);
    }
    const followSpec = create(FollowSpecSchema, { documents: change.documents, prefixes: change.prefixes });
    const sent = { answered: false, taken: false, change };
    this.sent.push(sent);
    // Told as the answer is handled, not a microtask later when the promise settles: the end of the
    // connection handled in between (the same read, or the same tick) would take a refused change as lost.
    const answered = (ok: boolean) => {
      if (sent.answered) return;
      sent.answered = true;
      sent.taken = ok;
      if (!ok) this.sent.splice(this.sent.indexOf(sent), 1); // Refused: it changes nothing, so nothing waits for it.
      this.takeAnswered();
    };
    try {
      await this.host.request(
        create(ClientFrameSchema, {
          body: add
            ? { case: "follow", value: { spec: followSpec, positions: this.host.positions() } }
            : { case: "unfollow", value: { spec: followSpec } },
        }),
        answered,
      );
    } catch (e) {
      if (!sent.taken) throw e; // Unless lost with its connection: see lost().
    } finally {
      answered(false); // Failed unanswered: the client closed or stopped.
    }
  }

  /**
   * The connection ended before the answers of the changes sent on it, and the client connects again (or
   * went offline): every one is taken, in the order sent, as the next Hello carries the set (idempotent: one
   * the node applied is none the worse). Called before the requests waiting are rejected; a close or a stop
   * for good lets them reject instead.
   */
  lost(): void {
    for (const c of this.sent) if (!c.answered) c.answered = c.taken = true;
    this.takeAnswered();
  }

  /** Takes the answered changes at the head, in the order sent, up to the first still waiting. */
  private takeAnswered(): void {
    while (this.sent[0]?.answered) {
      const s = this.sent.shift()!;
      Object.assign(this.config, followed(applied(current(this.config), s.change)));
    }
  }
}

/**
 * The most changes sent and not yet taken: waiting for their answers, or answered and waiting for an earlier
 * one's (an Unfollow answered ahead of a Follow still reading), as the Java client's `Follows.MAX_SENT`.
 */
export const MAX_SENT_CHANGES = MAX_PENDING_REQUESTS;

/** One follow (`add`) or unfollow, each name and prefix once. */
interface Change {
  add: boolean;
  documents: string[];
  prefixes: string[];
}

/** A follow set: every document (and any names and prefixes added), or these. */
interface FollowSet {
  all: boolean;
  documents: string[];
  prefixes: string[];
}

function current(c: EngineConfig): FollowSet {
  return { all: c.followAll, documents: c.followDocuments, prefixes: c.followPrefixes };
}

function followed(set: FollowSet): Pick<EngineConfig, "followAll" | "followDocuments" | "followPrefixes"> {
  return { followAll: set.all, followDocuments: set.documents, followPrefixes: set.prefixes };
}

/** `set` once `change` is taken. */
function applied(set: FollowSet, change: Change): FollowSet {
  if (change.add) {
    return {
      all: set.all,
      documents: [...new Set([...set.documents, ...change.documents])],
      prefixes: [...new Set([...set.prefixes, ...change.prefixes])],
    };
  }
  return {
    // "All" is the prefix "": only unfollowing that prefix ends it.
    all: set.all && !change.prefixes.includes(""),
    documents: set.documents.filter((d) => !change.documents.includes(d)),
    prefixes: set.prefixes.filter((p) => !change.prefixes.includes(p)),
  };
}
