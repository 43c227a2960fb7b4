// Screenshots of the pages at phone and desktop widths, JS on and off:
//   node screenshots.mjs <base-url> <out-dir> [path ...]
// Paths may need a signed-in session: pass GATEHOUSE_SCREENSHOT_EMAIL and
// GATEHOUSE_SCREENSHOT_PASSWORD to sign in first.
import { chromium } from "@playwright/test";

const [base, out, ...paths] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
for (const js of [true, false]) {
  for (const [label, viewport] of [["phone", { width: 390, height: 844 }], ["desktop", { width: 1280, height: 900 }]]) {
    const context = await browser.newContext({ viewport, javaScriptEnabled: js });
    const page = await context.newPage();
    page.on("console", (m) => m.type() === "error" && console.log(`[console ${label} js=${js}] ${m.text()}`));
    page.on("pageerror", (e) => console.log(`[pageerror ${label} js=${js}] ${e.message}`));
    if (process.env.GATEHOUSE_SCREENSHOT_EMAIL) {
      await page.goto(`${base}/signin`);
      await page.getByLabel("Email").fill(process.env.GATEHOUSE_SCREENSHOT_EMAIL);
      await page.getByLabel("Password").fill(process.env.GATEHOUSE_SCREENSHOT_PASSWORD ?? "");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForLoadState("networkidle");
    }
    for (const path of paths) {
      await page.goto(`${base}${path}`);
      await page.waitForLoadState("networkidle");
      const name = `${out}/${path.replace(/[^a-z0-9]+/gi, "_")}-${label}-js${js ? "on" : "off"}.png`;
      await page.screenshot({ path: name, fullPage: true });
      console.log(name);
    }
    await context.close();
  }
}
await browser.close();
