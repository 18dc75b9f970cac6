// Real parts for the tests: the server jar on a free port, Redis processes, HS256 tokens.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { createHmac, generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, createServer, type Socket } from "node:net";
import { homedir, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";
import { bearerWebSocket, HandoffClient, type HandoffClientOptions } from "../src/index.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const SERVER_JAR = join(ROOT, "server", "target", "handoff-server.jar");
export const SECRET = "test-secret-test-secret-test-secret-0123";

/** Fails with a message naming what to do when the server jar is missing. */
export function requireServerJar(): void {
  if (!existsSync(SERVER_JAR)) {
    throw new Error(`${SERVER_JAR} is missing: build it first (./mvnw -B -q -DskipTests package -pl server -am)`);
  }
}

export interface Node {
  port: number;
  url: string;
  http: string;
  stop(): Promise<void>;
  /** Kills the process at once (SIGKILL), as a crash would: no drain, no Disconnect. */
  kill(): Promise<void>;
  /** Freezes the process (SIGSTOP), as a hung host would: its sockets stay open and say nothing. */
  pause(): void;
  /** Thaws a {@link pause}d process (SIGCONT). */
  resume(): void;
}

/** Starts the server jar on a free port (or `options.port`) and waits until it is ready. */
export function startNode(
  args: string[] = [],
  options: { secret?: string | null; jvmArgs?: string[]; port?: number } = {},
): Promise<Node> {
  requireServerJar();
  return launch(args, options, classDataArgs());
}

/**
 * {@link startNode} with `classData` among the JVM's options; `exited` resolves with the signal that ended
 * the JVM (null when it exited by itself, as on SIGTERM), `stopWithin` stops it with a grace of its own.
 */
async function launch(
  args: string[],
  options: { secret?: string | null; jvmArgs?: string[]; port?: number },
  classData: string[],
): Promise<Node & { exited: Promise<NodeJS.Signals | null>; stopWithin(graceMs: number): Promise<void> }> {
  const secret = options.secret === undefined ? SECRET : options.secret;
  const jvm = ["-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", ...classData, ...(options.jvmArgs ?? [])];
  const argv = [...jvm, "-jar", SERVER_JAR, "--port", String(options.port ?? 0), ...args];
  if (secret) argv.push("--jwt-secret", secret);
  const proc = spawn("java", argv, { stdio: ["ignore", "pipe", "pipe"] });
  const exited = new Promise<NodeJS.Signals | null>((done) => proc.once("exit", (_code, signal) => done(signal)));
  let output = "";
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /Handoff node \S+ on port (\d+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    };
    proc.stdout!.on("data", onData);
    proc.stderr!.on("data", onData);
    proc.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  proc.stdout!.removeAllListeners("data").resume();
  proc.stderr!.removeAllListeners("data").resume();
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    http: `http://127.0.0.1:${port}`,
    stop: () => {
      proc.kill("SIGCONT"); // A paused node could not drain.
      return stopProcess(proc);
    },
    kill: () => stopProcess(proc, "SIGKILL"),
    pause: () => void proc.kill("SIGSTOP"),
    resume: () => void proc.kill("SIGCONT"),
    exited,
    stopWithin: (graceMs) => stopProcess(proc, "SIGTERM", graceMs),
  };
}

/**
 * JVM options that map the server's classes from an application class-data archive (AppCDS) instead of
 * reading them from the jar: a node then starts on about half the CPU (0.8 s instead of 1.5 s on the 2-core
 * VM), and the suite starts some thirty. The archive belongs to one build of the jar (its name carries the
 * jar's size and time) and lies beside it. Until it is there, nodes start without it, and the first test
 * process to ask since the jar was built (it takes the archive's lock) has it written in the background
 * ({@link writeClassData}). A JVM that finds an archive not made from its jar says so and starts without
 * it: the archive only ever changes how fast a node starts.
 */
function classDataArgs(): string[] {
  const jar = statSync(SERVER_JAR);
  const dir = dirname(SERVER_JAR);
  const name = `${basename(SERVER_JAR, ".jar")}-${jar.size}-${Math.trunc(jar.mtimeMs)}.jsa`;
  const archive = join(dir, name);
  if (existsSync(archive)) return [`-XX:SharedArchiveFile=${archive}`];
  const lock = `${archive}.lock`;
  // A lock left by a writer that failed, or by a test process that ended first, is taken over after two minutes.
  if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { force: true });
  try {
    closeSync(openSync(lock, "wx"));
  } catch {
    return []; // Another process has it written.
  }
  void writeClassData(archive).catch(() => {});
  return [];
}

/**
 * Writes the class-data archive `archive`: a node of its own on a Redis of its own (the Redis engine's
 * classes are the most), which one device connects to, writes to and leaves, then stopped at once; its JVM
 * writes the archive as it exits (`-XX:ArchiveClassesAtExit`, seconds on a loaded machine, so it is not
 * killed at the 10 s a test's node is), and the archive is renamed into place whole, the archives of earlier
 * builds of the jar removed. Nothing waits for it but the test process's exit; on failure the lock stays
 * until it is taken over.
 */
async function writeClassData(archive: string): Promise<void> {
  const partial = `${archive}.${process.pid}`;
  const redis = await startRedis();
  try {
    const node = await launch(["--redis-url", redis.url, "--node-id", "class-data"], {}, [`-XX:ArchiveClassesAtExit=${partial}`]);
    try {
      const device = new HandoffClient({ url: node.url, token: mintToken("class-data", "writer"), webSocket: bearerWebSocket(WebSocket) });
      await device.connect();
      await device.document("d").set("f", "1");
      await device.close();
    } finally {
      await node.stopWithin(120_000);
    }
    if ((await node.exited) !== null || !existsSync(partial)) throw new Error("no class-data archive written");
    const dir = dirname(archive);
    for (const f of readdirSync(dir)) {
      if (f.startsWith(`${basename(SERVER_JAR, ".jar")}-`) && f.includes(".jsa") && !f.startsWith(basename(archive))) {
        rmSync(join(dir, f), { force: true });
      }
    }
    renameSync(partial, archive);
  } finally {
    rmSync(partial, { force: true });
    await redis.stop();
  }
}

const running = (proc: ChildProcess) => proc.exitCode === null && proc.signalCode === null;

/** Ends `proc` with `signal`, and with SIGKILL if it still runs `graceMs` later. */
function stopProcess(proc: ChildProcess, signal: NodeJS.Signals = "SIGTERM", graceMs = 10_000): Promise<void> {
  if (!running(proc)) return Promise.resolve();
  return new Promise((done) => {
    const kill = setTimeout(() => proc.kill("SIGKILL"), graceMs);
    proc.once("exit", () => {
      clearTimeout(kill);
      done();
    });
    proc.kill(signal);
  });
}

/**
 * The temporary directories of this test process (a Redis's, Chromium's profile, an identity provider's keys),
 * each with the processes still running in it. Whoever stops those removes the directory once they have exited
 * ({@link removeTempDir}); what is left is removed as the test process exits, after its processes still
 * running there are killed (SIGKILL) and have exited: a Redis or a browser may write in its directory until then.
 */
const tempDirs = new Map<string, () => number[]>();

/** A fresh directory `prefix*` in the system's temporary directory; `pids` are the processes running in it. */
export function tempDir(prefix: string, pids: () => number[] = () => []): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  removeAtExit(dir, pids);
  return dir;
}

/** Has `dir`, made by a process of `pids`, removed as the test process exits, if no one did before. */
export function removeAtExit(dir: string, pids: () => number[]): void {
  tempDirs.set(dir, pids);
}

/** Removes `dir`, whose processes have exited; a failure is printed, never thrown. */
export function removeTempDir(dir: string): void {
  tempDirs.delete(dir);
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  } catch (e) {
    console.log(`# could not remove ${dir}: ${e}`);
  }
}

// 'exit' handlers run synchronously: signals are sent and /proc is read, nothing waits on the event loop.
process.on("exit", () => {
  for (const [dir, pids] of tempDirs) {
    const left = pids();
    for (const pid of left) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
    if (exitedWithin(left, 5_000)) removeTempDir(dir);
    else console.log(`# ${dir} stays: a process in it did not exit`);
  }
});

/** Whether every one of `pids` is gone or a zombie within `ms`, waiting synchronously. */
function exitedWithin(pids: number[], ms: number): boolean {
  const deadline = Date.now() + ms;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    if (pids.every((pid) => !alive(pid))) return true;
    if (Date.now() > deadline) return false;
    Atomics.wait(pause, 0, 0, 10);
  }
}

/** Whether `pid` runs: it is in /proc and no zombie (a killed child this process has not reaped yet). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** An HS256 development token with string `sub` and `did` claims. */
export function mintToken(user: string, device: string, ttlSeconds = 3600, secret = SECRET): string {
  const b64 = (o: object | Buffer) =>
    (Buffer.isBuffer(o) ? o : Buffer.from(JSON.stringify(o))).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub: user, did: device, iat: now, exp: now + ttlSeconds })}`;
  return `${body}.${b64(createHmac("sha256", secret).update(body).digest())}`;
}

/**
 * The app's side of sign-in, for tests: an ES256 key whose public JWKS file the server reads
 * (`--identity-jwks`), identity tokens signed with it, and a P-256 signing key for access tokens that
 * every node of a test shares (`--signing-key`).
 */
export class IdentityProvider {
  readonly jwksFile: string;
  readonly signingKeyFile: string;
  private readonly key: KeyObject;

  constructor() {
    const dir = tempDir("handoff-js-identity-");
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    this.key = privateKey;
    this.jwksFile = join(dir, "identity-jwks.json");
    writeFileSync(this.jwksFile, JSON.stringify({ keys: [{ ...publicKey.export({ format: "jwk" }), kid: "app-1", alg: "ES256", use: "sig" }] }));
    const nodeKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    this.signingKeyFile = join(dir, "signing-key.json");
    writeFileSync(this.signingKeyFile, JSON.stringify({ ...nodeKey.export({ format: "jwk" }), kid: "node-1" }), { mode: 0o600 });
  }

  /** The server options that make sign-in use this provider. */
  args(): string[] {
    return ["--identity-jwks", this.jwksFile, "--identity-algorithms", "ES256", "--signing-key", this.signingKeyFile];
  }

  /** An identity token of `user`, as the app's backend would issue it. */
  token(user: string, ttlSeconds = 300): string {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const body = `${b64({ alg: "ES256", kid: "app-1", typ: "JWT" })}.${b64({ sub: user, iat: now, exp: now + ttlSeconds })}`;
    const signature = sign("sha256", Buffer.from(body), { key: this.key, dsaEncoding: "ieee-p1363" });
    return `${body}.${signature.toString("base64url")}`;
  }
}

/** A Node client of `user`/`device` on `node` with the `ws` package; {@link closeClients} closes it. */
export function client(node: Node, user: string, device: string, extra: Partial<HandoffClientOptions> = {}): HandoffClient {
  return track(
    new HandoffClient({
      url: node.url,
      token: extra.tokenSource ? undefined : mintToken(user, device),
      webSocket: bearerWebSocket(WebSocket),
      reconnect: { initialMs: 50, maxMs: 500 },
      ...extra,
    }),
  );
}

const opened: HandoffClient[] = [];

/** Has {@link closeClients} close `c` after the test that made it. */
export function track(c: HandoffClient): HandoffClient {
  opened.push(c);
  return c;
}

/**
 * Closes every client made since the last call, each test's `afterEach` (or the file's `after`, before its
 * nodes stop, where its tests run side by side): a test that fails half-way leaves clients that would
 * otherwise keep reconnecting to a stopped node and keep the test process alive, so the run would hang
 * instead of reporting the failure.
 */
export async function closeClients(): Promise<void> {
  await Promise.allSettled(opened.splice(0).map((c) => c.close()));
}

export interface Redis {
  url: string;
  /** The directory it runs in, removed by `stop` once it has exited; none for `REDIS_URL`'s. */
  dir?: string;
  stop(): Promise<void>;
}

/**
 * A real Redis: REDIS_URL if set, else `redis-server` from PATH, else the Linux binary inside the
 * embedded-redis jar the server's tests use (from the local Maven repository).
 */
export async function startRedis(): Promise<Redis> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {} };
  const port = await freePort();
  let child: ChildProcess | undefined; // Killed at exit if still running.
  const dir = tempDir("handoff-js-redis-", () => (child?.pid !== undefined && running(child) ? [child.pid] : []));
  const binary = redisBinary(dir);
  const proc = spawn(binary, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child = proc;
  let output = "";
  await new Promise<void>((ready, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis did not start:\n${output}`)), 20_000);
    proc.stdout!.on("data", (c: Buffer) => {
      output += c.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        ready();
      }
    });
    proc.on("exit", (code) => reject(new Error(`redis exited with ${code}:\n${output}`)));
  });
  proc.stdout!.removeAllListeners("data").resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    dir,
    stop: async () => {
      await stopProcess(proc);
      removeTempDir(dir);
    },
  };
}

function redisBinary(dir: string): string {
  for (const p of (process.env.PATH ?? "").split(":")) {
    if (p && existsSync(join(p, "redis-server"))) return join(p, "redis-server");
  }
  const repo = process.env.MAVEN_REPO ?? join(homedir(), ".m2", "repository");
  const jarDir = join(repo, "com", "github", "codemonstur", "embedded-redis");
  const version = existsSync(jarDir) ? readdirSync(jarDir).sort().pop() : undefined;
  if (!version) {
    throw new Error("no Redis: set REDIS_URL, install redis-server (apt-get install -y redis-server), or run the server module's tests once so embedded-redis is in ~/.m2");
  }
  const jar = join(jarDir, version, `embedded-redis-${version}.jar`);
  const name = "redis-server-6.2.6-v5-linux-amd64";
  execFileSync("jar", ["xf", jar, name], { cwd: dir });
  execFileSync("chmod", ["+x", join(dir, name)]);
  return join(dir, name);
}

/**
 * One real Redis for a test file and a node on it per id, all started at once before the file's tests (so
 * that no test waits for a JVM of its own, and tests that kill their own nodes can run side by side), and
 * stopped after them, their clients first. Returns the nodes by id, once started.
 */
export function nodesOnOneRedis<Id extends string>(ids: readonly Id[]): () => Record<Id, Node> {
  let redis: Redis | undefined;
  const nodes = new Map<Id, Node>();
  before(async () => {
    redis = await startRedis();
    const started = await Promise.allSettled(ids.map((id) => startNode(["--redis-url", redis!.url, "--node-id", id])));
    // The nodes that did start are stopped by `after` when one did not.
    started.forEach((r, i) => r.status === "fulfilled" && nodes.set(ids[i]!, r.value));
    for (const r of started) if (r.status === "rejected") throw r.reason;
  });
  after(async () => {
    await closeClients();
    await Promise.all([...nodes.values()].map((n) => n.stop()));
    await redis?.stop();
  });
  return () => {
    if (nodes.size !== ids.length) throw new Error("nodesOnOneRedis: the nodes are not started yet");
    return Object.fromEntries(nodes) as Record<Id, Node>;
  };
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
    s.on("error", fail);
  });
}

/** Resolves when `condition` holds, polling; rejects after `timeoutMs` with `what`. */
export async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A unique user id per test, so tests on one server never share state. */
let users = 0;
export function user(name: string): string {
  return `${name}-${process.pid}-${++users}`;
}

export const text = (v: Uint8Array | undefined) => (v === undefined ? undefined : new TextDecoder().decode(v));

/** A TCP relay to a node, as the network between a client and the node. */
export interface Relay {
  url: string;
  /** While true, the relay takes new connections and carries nothing on them (an attempt under way). */
  hold: boolean;
  /** Connections held. */
  held(): number;
  /** Drops the held connections: their attempts fail. */
  release(): void;
  /** The connections it carries stop carrying anything, their sockets left open: a path that died unheard. */
  cut(): void;
  /**
   * The connections it carries stop carrying what the device sends, while what the node sends still
   * reaches it: a half-open link (a NAT or proxy that lost the device's direction). Neither side is told.
   */
  cutUp(): void;
  /**
   * The connections it carries stop carrying anything, and keep what the node sends meanwhile, as the
   * kernel and the browser hold a frozen page's input; {@link thaw} delivers it.
   */
  freeze(): void;
  /** Bytes the frozen connections kept. */
  kept(): number;
  /** Delivers what the frozen connections kept; they carry nothing more, the path stays dead. */
  thaw(): void;
  close(): void;
}

/** A {@link Relay} to `node`'s WebSocket port on 127.0.0.1, listening on `port` (0: a free one). */
export async function startRelay(node: Node, port = 0): Promise<Relay> {
  const held: Socket[] = [];
  // Per connection: whether each direction is carried, and what the node sent while frozen.
  const carried: { up: boolean; down: boolean; kept?: (string | Buffer)[]; device: Socket; sockets: Socket[] }[] = [];
  const server = createServer((device) => {
    device.on("error", () => {});
    if (relay.hold) return void held.push(device);
    const upstream = connect(node.port, "127.0.0.1");
    upstream.on("error", () => {});
    const pair: (typeof carried)[number] = { up: true, down: true, device, sockets: [device, upstream] };
    carried.push(pair);
    device.on("data", (d) => pair.up && upstream.write(d));
    upstream.on("data", (d) => (pair.kept ? pair.kept.push(d) : pair.down && device.write(d)));
    device.on("close", () => upstream.destroy());
    upstream.on("close", () => device.destroy());
  });
  await new Promise<void>((listening, failed) => {
    server.once("error", failed);
    server.listen(port, "127.0.0.1", listening);
  });
  const relay: Relay = {
    url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`,
    hold: false,
    held: () => held.length,
    release: () => held.splice(0).forEach((s) => s.destroy()),
    cut: () => carried.forEach((p) => (p.up = p.down = false)),
    cutUp: () => carried.forEach((p) => (p.up = false)),
    freeze: () =>
      carried.forEach((p) => {
        p.up = p.down = false;
        p.kept = [];
      }),
    kept: () => carried.reduce((n, p) => n + (p.kept ?? []).reduce((m, d) => m + d.length, 0), 0),
    thaw: () =>
      carried.forEach((p) => {
        p.kept?.forEach((d) => p.device.write(d));
        p.kept = undefined;
      }),
    close: () => {
      relay.release();
      carried.forEach((p) => p.sockets.forEach((s) => s.destroy()));
      server.close();
    },
  };
  return relay;
}
