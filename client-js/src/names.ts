import { HandoffError } from "./errors.js";

/** The server's default limit of a document name's UTF-8 length (protocol's `Names.DEFAULT_MAX_NAME_BYTES`). */
export const MAX_NAME_BYTES = 256;

/** The server's default limit of the names plus prefixes a connection follows (`maxFollowEntries`). */
export const MAX_FOLLOW_ENTRIES = 256;

// Java's Character.isISOControl, which the server applies: C0 controls, DEL and C1 controls.
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
const utf8 = new TextEncoder();

/**
 * What is wrong with a document name under the server's rule (not empty, at most 256 UTF-8 bytes, no
 * control characters), starting with `what`; undefined when it is a good name.
 */
export function nameProblem(what: string, name: unknown): string | undefined {
  if (typeof name !== "string") return `${what} must be a string, was ${typeof name}`;
  if (name.length === 0) return `${what} must not be empty`;
  return lengthOrControlProblem(what, name);
}

/**
 * What is wrong with a follow prefix: the start of a document name, so the name's rule except that
 * it may be empty (every document) or a partial name. Undefined when it is a good prefix.
 */
export function prefixProblem(what: string, prefix: unknown): string | undefined {
  if (typeof prefix !== "string") return `${what} must be a string, was ${typeof prefix}`;
  return lengthOrControlProblem(what, prefix);
}

function shown(v: unknown): string {
  return typeof v === "string" && v.length > 40 ? `${JSON.stringify(v.slice(0, 40))}...` : String(JSON.stringify(v));
}

function lengthOrControlProblem(what: string, s: string): string | undefined {
  const bytes = utf8.encode(s).length;
  if (bytes > MAX_NAME_BYTES) return `${what} is ${bytes} bytes; the limit is ${MAX_NAME_BYTES}`;
  if (CONTROL_CHARACTER.test(s)) return `${what} must not contain control characters`;
  return undefined;
}

/**
 * Throws `INVALID_ARGUMENT` for a follow spec the server would refuse (`BAD_REQUEST`): a document name
 * or a prefix outside the name rule. `setting` names where it came from in the message.
 */
export function checkFollowSpec(setting: string, spec: { documents?: unknown; prefixes?: unknown }): void {
  for (const [key, check] of [
    ["documents", (v: unknown) => nameProblem(`${setting}: a document name`, v)],
    ["prefixes", (v: unknown) => prefixProblem(`${setting}: a prefix`, v)],
  ] as const) {
    const list = spec[key];
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new HandoffError("INVALID_ARGUMENT", `${setting}: ${key} must be an array`);
    for (const v of list) {
      const problem = check(v);
      if (problem) throw new HandoffError("INVALID_ARGUMENT", `${problem}: ${shown(v)}`);
    }
  }
}

/**
 * Throws `INVALID_ARGUMENT` for a follow set over the server's limit of entries, which it would refuse
 * (`LIMIT_EXCEEDED`), in every Hello too: the distinct names plus the distinct prefixes. `setting`
 * names where it came from in the message.
 */
export function checkFollowEntries(setting: string, documents: Iterable<string>, prefixes: Iterable<string>): void {
  const entries = new Set(documents).size + new Set(prefixes).size;
  if (entries > MAX_FOLLOW_ENTRIES) {
    throw new HandoffError(
      "INVALID_ARGUMENT",
      `${setting}: following ${entries} names and prefixes; the limit is ${MAX_FOLLOW_ENTRIES} follow entries`,
    );
  }
}
