// Debian's Chromium driven by playwright-core (no browser downloads), and the demo's server node.
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { alive, type Node, ROOT, removeAtExit, startNode, tempDir } from "./harness.js";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Launches Debian's Chromium with a fresh profile, or fails naming what to install. `backForwardCache`:
 * with the back/forward cache, which playwright-core turns off by default. The profile (and the directory of
 * Chromium's singleton socket) is removed as the test process exits, once Chromium has: playwright-core kills
 * a browser still open then, and so does the harness ({@link tempDir}).
 */
export async function launchChromium(
  options: { backForwardCache?: boolean } = {},
): Promise<{ browser: BrowserContext; version: string }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  let group: number | undefined; // Chromium's process group, once it runs: killed at exit if still running.
  let started: string | undefined; // When its leader, the browser, started.
  const profile = tempDir("handoff-chromium-", () => (group === undefined ? [] : processGroup(group, started)));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 640, height: 720 },
    ignoreDefaultArgs: options.backForwardCache ? ["--disable-back-forward-cache"] : undefined,
  });
  group = browserProcess(profile);
  started = group === undefined ? undefined : startTime(group);
  // The directory of its singleton socket, beside the profile: Chromium removes it as it closes, not when killed.
  const socket = dirname(readlinkSync(join(profile, "SingletonSocket"), { encoding: "utf8" }));
  if (basename(socket).startsWith("org.chromium.Chromium.")) removeAtExit(socket, () => (group === undefined ? [] : processGroup(group, started)));
  const version = browser.browser()?.version() ?? (await versionFromPage(browser));
  return { browser, version };
}

/** The processes of /proc, each with its process group, from "pid (comm) state ppid pgrp ...". */
function processes(): Map<number, number> {
  const groups = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      groups.set(Number(entry), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]));
    } catch {
      // Gone meanwhile.
    }
  }
  return groups;
}

/**
 * The browser process of the Chromium running on `profile`: the one whose command line names it, a process
 * group's leader (playwright-core starts it so; its helpers, GPU, network, renderers, are of its group).
 */
function browserProcess(profile: string): number | undefined {
  for (const [pid, pgrp] of processes()) {
    try {
      if (pgrp === pid && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(`--user-data-dir=${profile}\0`)) return pid;
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}

/** When `pid` started (clock ticks after boot, the 22nd field of its stat), or undefined if it is gone. */
export function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/**
 * The processes still running of the group that `group`, started at `started`, leads. None if another process
 * now has that number: once every process of the group has exited (a browser closed), the number is free, and
 * the process given it next may lead a group of its own, which is not Chromium's.
 */
export function processGroup(group: number, started: string | undefined): number[] {
  const leader = startTime(group);
  if (leader !== undefined && leader !== started) return [];
  return [...processes()].filter(([pid, pgrp]) => pgrp === group && alive(pid)).map(([pid]) => pid);
}

async function versionFromPage(context: BrowserContext): Promise<string> {
  const page = await context.newPage();
  const ua = await page.evaluate(() => navigator.userAgent);
  await page.close();
  return /Chrom(?:e|ium)\/([\d.]+)/.exec(ua)?.[1] ?? ua;
}

/** The demo as a newcomer runs it: a node with the development secret serving client-js. */
export function startDemoNode(): Promise<Node> {
  return startNode(["--device-poll-interval", "500ms"], {
    secret: null,
    jvmArgs: [`-Dhandoff.demo.dir=${resolve(ROOT, "client-js")}`],
  });
}

