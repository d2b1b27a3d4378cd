// Shared by the web client's browser scripts (story.mjs, signup.mjs, bench/web_client.mjs):
// Debian's Chromium through playwright-core (which never downloads a browser), axe-core,
// and the summary line pytest reads.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

// axe-core's violations on the page as it is now. The script goes in through the
// debugging protocol, which the page's CSP does not govern.
export async function axeViolations(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 5), help: v.help }));
  });
}

// Runs main(); on failure notes the step and screenshots every page. Prints the summary
// as the last line and exits 0 only on success.
export async function runScript(browser, summary, artefacts, main) {
  try {
    await main();
    summary.ok = true;
  } catch (e) {
    summary.ok = false;
    summary.error = String(e.stack || e).split("\n").slice(0, 6).join("\n");
    for (const [c, context] of browser.contexts().entries()) {
      for (const [p, page] of context.pages().entries()) {
        await page.screenshot({ path: join(artefacts, `failure-${summary.script}-${c}-${p}.png`) }).catch(() => {});
      }
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(summary));
  process.exit(summary.ok ? 0 : 1);
}
