// The harness leaves nothing in the temporary directory: a test process that fails with its Redis, an identity
// provider and Chromium still open has them killed and their directories removed as it exits.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { processGroup, startTime } from "./chromium.js";
import { alive, startRedis } from "./harness.js";

test("a Redis stopped by the test leaves no directory", async () => {
  const redis = await startRedis();
  if (redis.dir === undefined) return; // REDIS_URL's: no process of ours, no directory.
  assert.ok(existsSync(redis.dir));
  await redis.stop();
  assert.equal(existsSync(redis.dir), false, `${redis.dir} left behind`);
});

test("a test process that fails with its Redis, keys and Chromium open leaves nothing behind", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "handoff-js-temp-dirs-"));
  try {
    // A test file's process: it starts what a file's `before` does, then fails outside any test.
    const script = `
      import { startRedis, IdentityProvider } from ${JSON.stringify(new URL("./harness.js", import.meta.url).href)};
      import { launchChromium } from ${JSON.stringify(new URL("./chromium.js", import.meta.url).href)};
      import { readdirSync, readFileSync, readlinkSync } from "node:fs";
      const redis = await startRedis();
      new IdentityProvider();
      await launchChromium();
      // Its processes: Redis runs in its directory (its cwd), Chromium's command line names its profile.
      const pids = [];
      for (const f of readdirSync("/proc").filter((f) => /^\\d+$/.test(f) && Number(f) !== process.pid)) {
        try {
          if (readlinkSync("/proc/" + f + "/cwd").startsWith(${JSON.stringify(tmp)}) || readFileSync("/proc/" + f + "/cmdline", "utf8").includes(${JSON.stringify(tmp)})) pids.push(Number(f));
        } catch {}
      }
      console.log("running " + JSON.stringify(pids));
      throw new Error("a test file that fails with everything open");
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
      env: { ...process.env, TMPDIR: tmp, REDIS_URL: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((done) => child.once("close", (c) => done(c)));
    assert.notEqual(code, 0, output);
    assert.match(output, /a test file that fails with everything open/);
    const pids = JSON.parse(/running (\[.*\])/.exec(output)?.[1] ?? "null") as number[] | null;
    assert.ok(pids && pids.length > 0, `the processes it started: ${output}`);
    assert.deepEqual(pids.filter(alive), [], "processes that outlived it");
    assert.deepEqual(readdirSync(tmp), [], output);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test("the exit kills no process group that took the number of a closed browser's", () => {
  // A process leading a group of its own, as one given the number of a browser's group gone could.
  const other = spawn("sleep", ["60"], { detached: true, stdio: "ignore" });
  try {
    const pid = other.pid!;
    const started = startTime(pid);
    assert.deepEqual(processGroup(pid, started), [pid], "the group of the process that started then");
    const browserStarted = String(Number(started) - 1); // The browser that had the number before it.
    assert.deepEqual(processGroup(pid, browserStarted), [], "another process's group counted as the browser's");
  } finally {
    other.kill("SIGKILL");
  }
});
