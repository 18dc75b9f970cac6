import { create } from "@bufbuild/protobuf";
import { type Backoff, UNAVAILABLE_BACKOFF_MAX_MS } from "./backoff.js";
import type { Link } from "./connection.js";
import { HandoffError } from "./errors.js";
import { NOT_NUMBERED } from "./requests.js";
import { type ClientFrame, ClientFrameSchema, type ServerFrame } from "./gen/handoff/v1/handoff_pb.js";

/** What a {@link TokenRefresher} reaches of the engine that owns it. */
export interface TokenRefreshHost {
  /** Asked for a fresh token; read at each TokenExpiring (none: the connection ends at its token's expiry). */
  tokenSource(): (() => Promise<string | undefined>) | undefined;
  /** The current connection attempt, if any; a token for another one is not sent. */
  current(): Link | undefined;
  /** Sends a numbered request on the current, welcomed connection; resolves with its answer. */
  request(frame: ClientFrame): Promise<ServerFrame>;
  /** Reports an error not tied to a pending promise. */
  failed(error: HandoffError): void;
}

/**
 * Keeps a connection open past its token's expiry: when the server says the token expires soon
 * (TokenExpiring), it asks the token source for a fresh one and hands it over in band
 * (RefreshToken). The token source is asked by one caller at a time (see the client), so a refresh
 * token is never used twice at once. The answer (TokenRefreshed) is the engine's to report.
 *
 * Lifecycle: one per engine, for the life of the client. It holds no state between refreshes; each
 * refresh belongs to the connection whose TokenExpiring began it and ends, sending nothing more,
 * once that connection is no longer current.
 */
export class TokenRefresher {
  constructor(
    private readonly backoff: Backoff,
    private readonly host: TokenRefreshHost,
  ) {}

  /** The server said `l`'s token expires soon: ask for a fresh one and hand it over on `l`. */
  onTokenExpiring(l: Link): void {
    const refresh = this.host.tokenSource();
    if (!refresh) return;
    refresh().then(
      (token) => {
        if (token && this.host.current() === l) this.send(l, token, 0);
      },
      (e) =>
        this.host.failed(
          new HandoffError("CONNECTION_LOST", `token source failed; reconnecting at token expiry: ${String(e)}`, {
            retryable: true,
          }),
        ),
    );
  }

  /**
   * Hands `token` over in band. Refused for now (`RATE_LIMITED` or `TOO_MANY_IN_FLIGHT`: the
   * connection's device requests are over their bound, or a RefreshToken of it is still being
   * checked; `UNAVAILABLE`: the node could not reach its session store to check the token), it is
   * sent again after a growing wait, as a refused Resync is: else the connection would be closed at
   * the token's expiry. Other refusals (`INVALID_TOKEN`, ...) are reported as errors. Before the
   * Welcome (a TokenExpiring may come first) it goes unnumbered, and a refusal is reported.
   */
  private send(l: Link, token: string, retries: number): void {
    const frame = create(ClientFrameSchema, { body: { case: "refreshToken", value: { accessToken: token } } });
    if (!l.welcomed) {
      l.channel!.send(frame);
      return;
    }
    this.host.request(frame).then(
      () => {},
      (e: HandoffError) => {
        if (this.host.current() !== l) return; // The connection ended meanwhile.
        if (NOT_NUMBERED.has(e)) {
          // Not numbered (too many requests wait for answers): it goes as before, unnumbered.
          l.channel!.send(frame);
          return;
        }
        if (e.errorCode === undefined) return; // The client's own: not connected, connection lost.
        if (e.code === "RATE_LIMITED" || e.code === "TOO_MANY_IN_FLIGHT" || e.code === "UNAVAILABLE") {
          setTimeout(() => {
            if (this.host.current() === l && l.welcomed) this.send(l, token, retries + 1);
          }, this.backoff.delay(retries, UNAVAILABLE_BACKOFF_MAX_MS) + 50);
          return;
        }
        this.host.failed(e);
      },
    );
  }
}

/** How far past its `exp` a fixed token is still tried: the server's clock may be behind this one's. */
export const EXPIRY_SKEW_MS = 60_000;

/** When a JWT's `exp` passed, if it passed more than {@link EXPIRY_SKEW_MS} ago; undefined otherwise (or not a JWT). */
export function expiredAt(token: string): Date | undefined {
  const payload = token.split(".")[1];
  if (!payload) return undefined;
  try {
    const json = atob(payload.replace(/-/g, "+").replace(/_/g, "/"));
    const exp = (JSON.parse(json) as { exp?: unknown }).exp;
    if (typeof exp !== "number" || !Number.isFinite(exp)) return undefined;
    return Date.now() > exp * 1000 + EXPIRY_SKEW_MS ? new Date(exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}
