// The published types (dist/*.d.ts, what an app compiles against) name the public surface only:
// members the engine uses to move a replica or a write are not there for an app to call, since a
// replica changed by hand diverges from the server without the client knowing.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ROOT } from "./harness.js";

const declarations = (file: string) => readFileSync(join(ROOT, "client-js", "dist", file), "utf8");

/** The members `file` declares on `cls`, by name. */
function members(file: string, cls: string): string[] {
  const text = declarations(file);
  const start = text.indexOf(`export declare class ${cls} `);
  assert.ok(start >= 0, `${file} declares ${cls}`);
  const body = text.slice(start, text.indexOf("\n}", start));
  return [...body.matchAll(/^ {4}(?:(?:private|protected|readonly|static|get|set) )*([A-Za-z_]\w*)[?(:<]/gm)].map((m) => m[1]);
}

test("a document handle's published type has no member that changes the replica or the engine's repair state", () => {
  const declared = members("document.d.ts", "Document");
  for (const name of ["apply", "replace", "drop", "setFingerprint", "fingerprintAt", "resyncInFlight", "resyncRetries", "resyncTimer", "repairedOn"]) {
    assert.ok(!declared.includes(name), `Document declares the engine's '${name}': ${declared.join(", ")}`);
  }
  for (const name of ["name", "epoch", "version", "get", "getString", "fields", "set", "remove", "edit"]) {
    assert.ok(declared.includes(name), `Document declares '${name}': ${declared.join(", ")}`);
  }
});

test("no published type needs the engine: the approvals' constructor is the client's", () => {
  assert.ok(!/SyncEngine/.test(declarations("approvals.d.ts")), declarations("approvals.d.ts"));
});

test("the client's published type holds its public API and nothing more: a member added to it is added here on purpose", () => {
  const text = declarations("client.d.ts");
  const start = text.indexOf("export declare class HandoffClient ");
  const body = text.slice(start, text.indexOf("\n}", start));
  const published = [...body.matchAll(/^ {4}(?!private )(?:(?:readonly|static|get|set) )*([A-Za-z_]\w*)[?(:<]/gm)].map((m) => m[1]);
  assert.deepEqual(published, [
    "approvals",
    "constructor",
    "connect",
    "on",
    "off",
    "document",
    "ready",
    "follow",
    "followAll",
    "unfollow",
    "publishActivity",
    "offer",
    "accept",
    "decline",
    "cancel",
    "devices",
    "revokeDevice",
    "revokeOtherDevices",
    "activities",
    "prompts",
    "presence",
    "state",
    "userId",
    "deviceId",
    "pendingWrites",
    "setOffline",
    "offline",
    "checkConnection",
    "dropConnection",
    "close",
  ]);
});
