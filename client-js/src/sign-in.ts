import { API_ERROR_CODES, type ApiErrorCode, HandoffError } from "./errors.js";

/** The grant type of a device-code poll (RFC 8628 §3.4). */
export const DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code";
/** How much longer the interval gets at each `slow_down` (RFC 8628 §3.5). */
export const SLOW_DOWN_STEP_MS = 5_000;
/** Limit for one HTTP request of the sign-in API. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** What to show the person: type `userCode` at `verificationUri` (RFC 8628 §3.2). */
export interface DeviceCode {
  /** The secret this device polls with; never shown. */
  readonly deviceCode: string;
  /** As people read and type it: `KBHW-TQXN`. */
  readonly userCode: string;
  readonly verificationUri: string;
  /** `verificationUri` with the code in it, for a QR code. */
  readonly verificationUriComplete: string;
  readonly expiresInSeconds: number;
  /** The least time between two polls. */
  readonly intervalSeconds: number;
}

/** A sign-in held until a trusted device of the user approves it ("is this you?"). */
export interface PendingSignIn {
  /** What the trusted devices' prompts name. */
  readonly approvalId: string;
  /** The secret this device polls with ({@link DeviceSignIn.awaitApproval}). */
  readonly deviceCode: string;
  readonly expiresInSeconds: number;
  readonly intervalSeconds: number;
  /** Devices of the user online to see the prompt now; 0: nobody can approve it until one connects. */
  readonly approversOnline: number;
}

/** A device session: the access token for {@link HandoffClient} and the refresh token that renews it. */
export interface DeviceSession {
  readonly userId: string;
  readonly deviceId: string;
  readonly sessionId: string;
  readonly accessToken: string;
  readonly accessExpiresAtMs: bigint;
  readonly refreshToken: string;
}

/** The outcome of {@link DeviceSignIn.signIn}: a session at once, or a sign-in held for approval. */
export type SignIn =
  | { readonly status: "signed_in"; readonly session: DeviceSession }
  | { readonly status: "approval_pending"; readonly pending: PendingSignIn };

/** Who the signing-in device says it is, as the approving device will show it. */
export interface DeviceDescription {
  deviceId: string;
  name?: string;
  platform?: string;
}

export interface DeviceSignInOptions {
  /** Default: the global `fetch` (browsers, Node 20+). */
  fetch?: typeof fetch;
  requestTimeoutMs?: number;
}

/**
 * Signs in a device that holds no session yet, over the server's HTTP API: a device code for a
 * person to approve on a signed-in device (RFC 8628: {@link requestCode}, then {@link
 * awaitApproval}), or a sign-in with the app's identity token that the server may hold until a
 * trusted device approves it ({@link signIn}). Polls no faster than the server's interval, 5 s
 * slower after each `slow_down`. Errors are {@link HandoffError}s whose `code` is the API's
 * (`access_denied`, `expired_token`, `invalid_grant`, `too_many_pending`, ...).
 *
 * ```ts
 * const signIn = new DeviceSignIn("https://handoff.example");
 * const code = await signIn.requestCode({ deviceId: "tv-1", name: "Living room", platform: "tv" });
 * show(code.userCode, code.verificationUri);
 * const session = await signIn.awaitApproval(code);   // then new HandoffClient({ token: session.accessToken, ... })
 * ```
 */
export class DeviceSignIn {
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private readonly timeoutMs: number;

  /** For the server at `baseUrl` (`http(s)://host:port`). */
  constructor(baseUrl: string, options: DeviceSignInOptions = {}) {
    if (typeof baseUrl !== "string" || !/^https?:\/\/[^/]+/i.test(baseUrl)) {
      throw new HandoffError("INVALID_ARGUMENT", `baseUrl must be http:// or https:// with a host, was ${String(baseUrl)}`);
    }
    const f = options.fetch ?? (globalThis as { fetch?: typeof fetch }).fetch;
    if (!f) throw new HandoffError("INVALID_ARGUMENT", "no global fetch: pass options.fetch");
    const timeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    if (!Number.isInteger(timeout) || timeout <= 0) {
      throw new HandoffError("INVALID_ARGUMENT", `requestTimeoutMs must be a positive integer, was ${timeout}`);
    }
    this.base = baseUrl.replace(/\/+$/, "");
    this.fetch = f.bind(globalThis);
    this.timeoutMs = timeout;
  }

  /** Asks for a device code and a user code (RFC 8628 §3.1). Rejects with `too_many_pending` when this address has too many waiting. */
  async requestCode(device: DeviceDescription): Promise<DeviceCode> {
    const { status, body } = await this.post("/v1/device_authorization", describe(device));
    if (status !== 200) throw apiError(status, body);
    return {
      deviceCode: str(body, "device_code"),
      userCode: str(body, "user_code"),
      verificationUri: str(body, "verification_uri"),
      verificationUriComplete: str(body, "verification_uri_complete"),
      expiresInSeconds: num(body, "expires_in"),
      intervalSeconds: num(body, "interval"),
    };
  }

  /**
   * Signs in with the app's identity token. With new-device approval on the server, a device the
   * user never used is held (`approval_pending`) until a trusted device approves it: wait for that
   * with {@link awaitApproval}.
   */
  async signIn(identityToken: string, device: DeviceDescription): Promise<SignIn> {
    if (typeof identityToken !== "string" || identityToken.length === 0) {
      throw new HandoffError("INVALID_ARGUMENT", "identityToken must not be empty");
    }
    const { status, body } = await this.post("/v1/sessions", { identity_token: identityToken, ...describe(device) });
    if (status === 202) {
      return {
        status: "approval_pending",
        pending: {
          approvalId: str(body, "approval_id"),
          deviceCode: str(body, "device_code"),
          expiresInSeconds: num(body, "expires_in"),
          intervalSeconds: num(body, "interval"),
          approversOnline: num(body, "approvers_online"),
        },
      };
    }
    if (status !== 201) throw apiError(status, body);
    return { status: "signed_in", session: session(body) };
  }

  /**
   * Polls the token endpoint until the code (or held sign-in) is approved, and resolves with the
   * approving user's device session. Rejects with `access_denied`, `expired_token` (unanswered in
   * time), `invalid_grant` (already used, or unknown), `CONNECTION_LOST` when the server could not be
   * reached until the code's deadline, or `signal`'s reason. Rejects with `INVALID_ARGUMENT`, before
   * any poll, a code without its `deviceCode`, or whose `intervalSeconds` or `expiresInSeconds` is not
   * a finite number (such as one restored from storage that did not keep them).
   */
  async awaitApproval(
    code: Pick<DeviceCode, "deviceCode" | "intervalSeconds" | "expiresInSeconds">,
    options: { signal?: AbortSignal } = {},
  ): Promise<DeviceSession> {
    if (!code || typeof code.deviceCode !== "string" || code.deviceCode.length === 0) {
      throw new HandoffError("INVALID_ARGUMENT", "code.deviceCode must not be empty");
    }
    // A code restored from storage that lost these would poll without a pause and never reach a
    // deadline: refused before any poll (as the Java client refuses a DeviceCode without them).
    seconds("code.intervalSeconds", code.intervalSeconds);
    seconds("code.expiresInSeconds", code.expiresInSeconds);
    let intervalMs = Math.max(0, code.intervalSeconds) * 1000;
    // Past this, network failures end the wait (the code has expired by then anyway).
    const deadline = Date.now() + Math.max(0, code.expiresInSeconds) * 1000 + intervalMs;
    for (;;) {
      await delay(intervalMs, options.signal);
      let answer: { status: number; body: Record<string, unknown> };
      try {
        answer = await this.post("/v1/token", { grant_type: DEVICE_CODE_GRANT, device_code: code.deviceCode }, options.signal);
      } catch (e) {
        if (options.signal?.aborted) throw options.signal.reason;
        if (Date.now() > deadline) throw e;
        continue; // The network: poll again after the interval.
      }
      if (answer.status === 200) return session(answer.body);
      const error = answer.body.error;
      if (error === "authorization_pending") continue;
      // Too many requests from this address (or user) for a moment: the code is still good.
      if (error === "rate_limited") {
        // Its Retry-After is whole seconds, at least one.
        await delay(Math.max(0, 1000 - intervalMs), options.signal);
        continue;
      }
      if (error === "slow_down") {
        intervalMs += SLOW_DOWN_STEP_MS;
        continue;
      }
      if (answer.status >= 500 && Date.now() <= deadline) continue;
      throw apiError(answer.status, answer.body);
    }
  }

  /**
   * Renews a device session with its refresh token (`POST /v1/token`); the old refresh token is
   * spent. Never present one refresh token twice at once: use it from one place (such as the
   * client's `tokenSource`, which never runs twice at once).
   */
  async refresh(refreshToken: string): Promise<DeviceSession> {
    if (typeof refreshToken !== "string" || refreshToken.length === 0) {
      throw new HandoffError("INVALID_ARGUMENT", "refreshToken must not be empty");
    }
    const { status, body } = await this.post("/v1/token", { grant_type: "refresh_token", refresh_token: refreshToken });
    if (status !== 200) throw apiError(status, body);
    return session(body);
  }

  private async post(
    path: string,
    json: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await this.fetch(`${this.base}${path}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(json),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (e) {
      throw new HandoffError("CONNECTION_LOST", `POST ${path} failed: ${String(e)}`);
    }
    const text = await res.text().catch(() => "");
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
    } catch {
      body = { message: text.slice(0, 200) };
    }
    return { status: res.status, body };
  }
}

function describe(d: DeviceDescription): Record<string, string> {
  if (!d || typeof d.deviceId !== "string" || d.deviceId.length === 0) {
    throw new HandoffError("INVALID_ARGUMENT", "deviceId must not be empty");
  }
  const out: Record<string, string> = { device_id: d.deviceId };
  if (d.name !== undefined) out.device_name = d.name;
  if (d.platform !== undefined) out.platform = d.platform;
  return out;
}

function session(b: Record<string, unknown>): DeviceSession {
  const expires = b.expires_at_ms;
  if (typeof expires !== "number" && typeof expires !== "string") {
    throw new HandoffError("UNEXPECTED_ANSWER", "the token answer has no expires_at_ms");
  }
  return {
    userId: str(b, "user_id"),
    deviceId: str(b, "device_id"),
    sessionId: str(b, "session_id"),
    accessToken: str(b, "access_token"),
    accessExpiresAtMs: BigInt(expires),
    refreshToken: str(b, "refresh_token"),
  };
}

function str(b: Record<string, unknown>, key: string): string {
  const v = b[key];
  return typeof v === "string" ? v : v === undefined || v === null ? "" : String(v);
}

function num(b: Record<string, unknown>, key: string): number {
  const v = Number(b[key]);
  if (!Number.isFinite(v)) throw new HandoffError("UNEXPECTED_ANSWER", `the server's answer has no number ${key}`);
  return v;
}

/** Throws unless `v` is a finite number (of seconds), as the server's answer gave it. */
function seconds(name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new HandoffError("INVALID_ARGUMENT", `${name} must be a finite number of seconds, as the server gave it, was ${String(v)}`);
  }
}

function apiError(status: number, body: Record<string, unknown>): HandoffError {
  const error = typeof body.error === "string" && API_ERROR_CODES.has(body.error) ? (body.error as ApiErrorCode) : "http_error";
  const name = typeof body.error === "string" ? body.error : `HTTP ${status}`;
  const message = typeof body.message === "string" ? body.message : "";
  // Retryable as in the Java client: the store or a rate, not the request, stood in the way.
  return new HandoffError(error, message ? `${name}: ${message}` : name, { status, retryable: status >= 500 || status === 429 });
}

function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
