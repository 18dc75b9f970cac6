import { create } from "@bufbuild/protobuf";
import type { SyncEngine } from "./engine.js";
import { HandoffError } from "./errors.js";
import { type ApprovalOutcome, type ApprovalRequest, ClientFrameSchema, type ServerFrame } from "./gen/handoff/v1/handoff_pb.js";

/** Longer strings are no user code or approval id; refused before anything is sent. */
const MAX_ID_LENGTH = 256;

/**
 * A signed-in device's side of signing in other devices, from {@link HandoffClient.approvals}: look
 * up a user code a person typed (a TV's device code) and approve or deny it, and answer the "is this
 * you?" prompts of new devices (the `approvalPrompt` and `approvalWithdrawn` events of the client).
 * Needs a server-issued access token (a development token acts as its user).
 *
 * ```ts
 * client.on("approvalPrompt", async (r) => {
 *   if (confirm(`${r.deviceName} (${r.platform}) at ${r.address} asks to sign in as you`)) {
 *     await client.approvals.answer(r.approvalId, true);   // or rejects with APPROVAL_ENDED
 *   }
 * });
 * const tv = await client.approvals.verifyUserCode("KBHW-TQXN"); // who asks with this code
 * await client.approvals.answer(tv.approvalId, true);
 * ```
 */
export class Approvals {
  /** @internal */
  constructor(private readonly engine: SyncEngine) {}

  /**
   * Who asks with this user code (any case, dash optional): resolves with the request to show, or
   * rejects with `APPROVAL_NOT_FOUND` (no such code for this user; counts as a wrong attempt) or
   * `TOO_MANY_ATTEMPTS`. The first user to look a code up holds it.
   */
  async verifyUserCode(userCode: string): Promise<ApprovalRequest> {
    check("userCode", userCode);
    const f = await this.engine.request(
      create(ClientFrameSchema, { body: { case: "verifyUserCode", value: { userCode } } }),
    );
    const r = expect(f, "approvalPrompt").request;
    if (!r) throw new HandoffError("UNEXPECTED_ANSWER", "the server's ApprovalPrompt named no request");
    return r;
  }

  /**
   * Approves or denies a request (its `approvalId`). Resolves with the outcome when this answer
   * won (its prompt is gone then; also when it is this device's winning answer sent again, after
   * an `UNAVAILABLE`); rejects with `APPROVAL_ENDED` when another answer (or the
   * deadline) came first (its prompt is then withdrawn: `approvalWithdrawn`), or `APPROVAL_NOT_FOUND`.
   */
  async answer(approvalId: string, approve: boolean): Promise<ApprovalOutcome> {
    check("approvalId", approvalId);
    if (typeof approve !== "boolean") {
      throw new HandoffError("INVALID_ARGUMENT", `approve must be true or false, was ${String(approve)}`);
    }
    const f = await this.engine.request(
      create(ClientFrameSchema, { body: { case: "answerApproval", value: { approvalId, approve } } }),
    );
    return expect(f, "approvalAnswered").outcome;
  }

  /** The prompts shown now, oldest first. */
  prompts(): ApprovalRequest[] {
    return [...this.engine.requests.approvalPrompts.values()];
  }
}

function check(name: string, value: string): void {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_ID_LENGTH) {
    throw new HandoffError("INVALID_ARGUMENT", `${name} must be 1-${MAX_ID_LENGTH} characters, was ${JSON.stringify(value)}`);
  }
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
