// Takes docs/demo-handoff.png: two demo windows side by side, one offering its session, the other
// prompted to continue. Run: npm run build && npx tsc -p tsconfig.test.json && node build/test/screenshot.js
import { resolve } from "node:path";
import { launchChromium, startDemoNode } from "./chromium.js";
import { ROOT } from "./harness.js";

const node = await startDemoNode();
const { browser } = await launchChromium();
try {
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1280, height: 500 });
  // Same origin as the demo, so the two windows are first-party frames (IndexedDB, storage).
  await page.goto(`${node.http}/healthz`);
  const frame = (d: string) =>
    `<iframe src="${node.http}/demo/?device=${d}" style="width:626px;height:480px;border:2px solid #8893a8;border-radius:8px"></iframe>`;
  await page.setContent(`<body style="margin:6px;background:#2b3245;display:flex;gap:8px">${frame("phone")}${frame("laptop")}</body>`);
  await page.waitForFunction(() => document.querySelectorAll("iframe").length === 2);
  const [phone, laptop] = await Promise.all(
    ["phone", "laptop"].map(async (d) => {
      const f = page.frames().find((x) => x.url().includes(`device=${d}`))!;
      await f.waitForFunction(() => (window as any).demo?.client.state === "connected", null, { timeout: 15_000 });
      return f;
    }),
  );
  await phone.waitForSelector("#presence li.online");
  await phone.locator("#position").fill("205");
  await phone.locator("#position").dispatchEvent("change");
  for (const item of ["book", "ink", "book"]) await phone.click(`[data-item=${item}]`);
  await phone.locator("#form-name").fill("Ada Lovelace");
  await phone.locator("#form-message").fill("Please deliver after 6 pm, ring tw");
  await laptop.waitForFunction(
    () =>
      (document.getElementById("form-message") as HTMLTextAreaElement).value.endsWith("tw") &&
      (document.getElementById("form-name") as HTMLInputElement).value === "Ada Lovelace",
  );
  await phone.click("#continue");
  await laptop.waitForSelector("#prompt:not([hidden])");
  const out = resolve(ROOT, "client-js", "docs", "demo-handoff.png");
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await node.stop();
}
