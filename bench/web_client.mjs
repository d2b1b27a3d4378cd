// Run by bench/bench_web_client.py (playwright-core from tests/web: npm ci there first):
//   node web_client.mjs BASE PASSWORD DM_ROOM LOADS MESSAGES ROOMS
// Prints one JSON line: {loads_ms: [...], send_ms: [...], first_load_bytes}.
import { launch } from "../tests/web/browser.mjs";

const [BASE, PASSWORD, DM, LOADS, MESSAGES, ROOMS] = process.argv.slice(2);
const KEY = "homeserver.web.session";
const browser = await launch();

async function login(user) {
  const response = await fetch(`${BASE}/_matrix/client/v3/login`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password: PASSWORD }),
  });
  const session = await response.json();
  if (!response.ok) throw new Error(JSON.stringify(session));
  return session;
}

// A fresh context (empty HTTP cache) already signed in, as after "keep me signed in".
async function signedIn(user, hash = "") {
  const session = await login(user);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(([key, value]) => localStorage.setItem(key, value),
    [KEY, JSON.stringify({ user_id: session.user_id, access_token: session.access_token, device_id: session.device_id })]);
  const page = await context.newPage();
  return { context, page, url: `${BASE}/${hash}` };
}

async function firstLoadBytes() {
  const context = await browser.newContext();
  const page = await context.newPage();
  let total = 0;
  page.on("requestfinished", async (request) => {
    const sizes = await request.sizes();
    total += sizes.responseBodySize + sizes.responseHeadersSize;
  });
  await page.goto(BASE, { waitUntil: "networkidle" });
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await context.close();
  return total;
}

async function pageToRoomList() {
  const { context, page, url } = await signedIn("alice");
  const started = Date.now();
  await page.goto(url);
  await page.waitForFunction((n) => document.querySelectorAll(".rooms > li").length >= n, Number(ROOMS), { polling: "raf" });
  const elapsed = Date.now() - started;
  await context.close();
  return elapsed;
}

async function sendToShown() {
  const room = `#/room/${encodeURIComponent(DM)}`;
  const alice = await signedIn("alice", room);
  const bob = await signedIn("bob", room);
  for (const who of [alice, bob]) {
    await who.page.goto(who.url);
    await who.page.locator("#composer-input").waitFor();
  }
  // Bob's page notes when each message's text first appears; Alice's when Enter goes down.
  await bob.page.evaluate(() => {
    window.seen = {};
    new MutationObserver(() => {
      for (const body of document.querySelectorAll("li.message .body")) {
        const text = body.textContent;
        if (text.startsWith("bench ") && !(text in window.seen)) window.seen[text] = Date.now();
      }
    }).observe(document.body, { childList: true, subtree: true, characterData: true });
  });
  await alice.page.evaluate(() => {
    window.sent = [];
    document.addEventListener("keydown", (e) => e.key === "Enter" && window.sent.push(Date.now()), true);
  });
  const samples = [];
  for (let i = 0; i < Number(MESSAGES); i++) {
    const text = `bench ${i}`;
    await alice.page.locator("#composer-input").fill(text);
    await alice.page.locator("#composer-input").press("Enter");
    await bob.page.waitForFunction((t) => t in window.seen, text, { polling: "raf" });
    const sent = await alice.page.evaluate(() => window.sent[window.sent.length - 1]);
    const shown = await bob.page.evaluate((t) => window.seen[t], text);
    samples.push(shown - sent);
  }
  await alice.context.close();
  await bob.context.close();
  return samples;
}

try {
  const first_load_bytes = await firstLoadBytes();
  const loads_ms = [];
  for (let i = 0; i < Number(LOADS); i++) loads_ms.push(await pageToRoomList());
  const send_ms = await sendToShown();
  console.log(JSON.stringify({ loads_ms, send_ms, first_load_bytes }));
} finally {
  await browser.close();
}
