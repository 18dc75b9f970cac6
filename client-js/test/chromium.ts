// Debian's Chromium driven by playwright-core (no browser downloads), and the demo's server node.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";
import { type Node, ROOT, startNode } from "./harness.js";

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
 * with the back/forward cache, which playwright-core turns off by default.
 */
export async function launchChromium(
  options: { backForwardCache?: boolean } = {},
): Promise<{ browser: BrowserContext; version: string }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: install Chromium (apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  const profile = mkdtempSync(join(tmpdir(), "handoff-chromium-"));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 640, height: 720 },
    ignoreDefaultArgs: options.backForwardCache ? ["--disable-back-forward-cache"] : undefined,
  });
  const version = browser.browser()?.version() ?? (await versionFromPage(browser));
  return { browser, version };
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

