// The web client's whole story in Debian's Chromium, two people in two browser contexts
// (Alice on a desktop, Bob on a phone) against a real homeserver:
//
//   node story.mjs BASE_URL IMAGE_PATH ARTEFACT_DIR
//
// Sign up both, profile and status, find Bob by part of his name, DM, messages both ways
// live, typing, receipts, an edit, a deletion, a reaction, a reply, an image shown as a
// thumbnail on the other side, the unread badge cleared on reading, hostile HTML
// rendered harmless, going offline and back, history search; an axe-core scan of every
// screen; screenshots at both sizes. Prints one JSON summary line; exits non-zero with
// the failing step on any failure. tests/web/test_web_client.py runs it.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { axeViolations, launch, runScript } from "./browser.mjs";

const [BASE, IMAGE, ARTEFACTS] = process.argv.slice(2);
const WAIT = 15000;
mkdirSync(ARTEFACTS, { recursive: true });

const summary = { script: "story", steps: [], step_ms: {}, axe_ms: 0, axe: {}, violations: [], minor: [], refreshes: {}, media_paths: [], tokens_in_urls: [], csp: [], console_errors: [], timings_ms: {} };
let step = "start";
let stepStarted = Date.now();
function begin(name) {
  summary.step_ms[step] = Date.now() - stepStarted;
  stepStarted = Date.now();
  step = name;
  summary.failed_step = name;
  summary.steps.push(name);
}

const browser = await launch();

async function person(name, viewport, isMobile) {
  const context = await browser.newContext({ viewport, isMobile, hasTouch: isMobile, deviceScaleFactor: 1, locale: "en-GB", timezoneId: "UTC" });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("console", (m) => {
    // Resource failures are the test's own 404 probes; CSP reports are collected below.
    if (m.type() === "error" && !/Failed to load resource|Content Security Policy/.test(m.text())) summary.console_errors.push(`${name}: ${m.text()}`);
  });
  page.on("pageerror", (e) => summary.console_errors.push(`${name}: ${e.message}`));
  // What went over the network: token refreshes, media paths, and any token in a URL.
  page.on("request", (request) => {
    const url = new URL(request.url());
    if (url.pathname.endsWith("/refresh")) summary.refreshes[name] = (summary.refreshes[name] || 0) + 1;
    if (url.pathname.includes("/media/")) summary.media_paths.push(url.pathname.split("/").slice(0, 6).join("/"));
    if (/access_token|refresh_token/.test(url.search + url.hash)) summary.tokens_in_urls.push(request.url());
  });
  // Every CSP violation the page meets is reported back (there must be none).
  await page.exposeFunction("__cspViolation", (directive) => summary.csp.push({ who: name, step, directive }));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) => window.__cspViolation(e.violatedDirective));
  });
  return { name, context, page };
}

async function axe(who, screen) {
  const { page } = who;
  const started = Date.now();
  const result = await axeViolations(page);
  summary.axe_ms += Date.now() - started;
  summary.axe[`${who.name}:${screen}`] = result.length;
  for (const v of result) {
    const found = { screen: `${who.name}:${screen}`, ...v };
    if (v.impact === "serious" || v.impact === "critical") summary.violations.push(found);
    else summary.minor.push(found);
  }
}

async function shot(who, name) {
  await who.page.screenshot({ path: join(ARTEFACTS, `${name}.png`) });
}

const messages = (page) => page.locator("li.message");
const message = (page, text) => page.locator("li.message", { hasText: text });

async function apiLogin(user, password) {
  const response = await fetch(`${BASE}/_matrix/client/v3/login`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ type: "m.login.password", identifier: { type: "m.id.user", user }, password }),
  });
  if (!response.ok) throw new Error(`login failed: ${response.status}`);
  return (await response.json()).access_token;
}

async function signUp(who, username, password) {
  const { page } = who;
  await page.goto(BASE);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await axe(who, "sign-in");
  await page.getByRole("link", { name: "Create an account" }).click();
  await page.getByRole("heading", { name: "Create an account" }).waitFor();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password", { exact: true }).fill("short");
  await page.getByLabel("Confirm password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  // The server's password policy, shown next to the password field.
  await page.locator(".field", { has: page.getByLabel("Password", { exact: true }) }).locator(".error").waitFor();
  await axe(who, "sign-up-error");
  if (who.name === "alice") await shot(who, "signup-desktop");
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByLabel("Confirm password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("searchbox", { name: "Find people" }).waitFor();
}

async function main() {
  const alice = await person("alice", { width: 1280, height: 800 }, false);
  const bob = await person("bob", { width: 360, height: 740 }, true);
  const a = alice.page;
  const b = bob.page;

  begin("sign up both");
  const t0 = Date.now();
  await signUp(alice, "alice", "correct horse battery");
  summary.timings_ms.alice_signup = Date.now() - t0;
  await signUp(bob, "bob", "battery staple horse");
  await axe(alice, "empty chat list");

  begin("bob sets his display name and status");
  await b.getByRole("button", { name: /your profile and settings/i }).click();
  await b.getByLabel("Display name").fill("Bob Builder");
  await b.getByLabel("Status message").fill("Fixing things");
  await axe(bob, "profile dialog");
  await b.getByRole("button", { name: "Save" }).click();
  await b.getByText("Saved.").waitFor();
  await b.getByRole("button", { name: "Close" }).click();
  await b.locator(".me-name", { hasText: "Bob Builder" }).waitFor();

  begin("alice finds bob by part of his name and starts a DM");
  await a.getByRole("searchbox", { name: "Find people" }).fill("build");
  const result = a.getByRole("button", { name: /Bob Builder/ });
  await result.waitFor();
  await axe(alice, "people search");
  await result.click();
  await a.getByRole("heading", { name: "Bob Builder", level: 1 }).waitFor();
  await a.getByLabel("Message Bob Builder").fill("Hello Bob!");
  await a.keyboard.press("Enter");
  await message(a, "Hello Bob!").waitFor();

  begin("bob accepts the invitation and reads the message");
  await b.getByRole("button", { name: /Accept invitation/ }).click();
  await message(b, "Hello Bob!").waitFor();
  await axe(bob, "room (phone)");

  begin("alice sees bob's receipt, presence and status");
  await message(a, "Hello Bob!").getByTestId("receipt").filter({ hasText: "Seen by Bob Builder" }).waitFor();
  await a.locator(".room-header", { hasText: "Fixing things" }).waitFor();

  begin("typing shows on the other side");
  await b.getByLabel(/^Message /).pressSequentially("Hi Ali", { delay: 10 });
  await a.getByTestId("typing").filter({ hasText: "Bob Builder is typing…" }).waitFor();
  await b.getByLabel(/^Message /).pressSequentially("ce", { delay: 10 });
  await b.getByLabel(/^Message /).press("Enter");

  begin("messages arrive live both ways");
  const sentAt = Date.now();
  await message(a, "Hi Alice").waitFor();
  summary.timings_ms.bob_to_alice = Date.now() - sentAt;
  await a.getByTestId("typing").filter({ hasText: /^$/ }).waitFor();
  // The live region read the new message out.
  await a.locator("#announcer", { hasText: "New message from Bob Builder: Hi Alice" }).waitFor();
  const sent2 = Date.now();
  await a.getByLabel("Message Bob Builder").fill("How are you?\nAll good here.");
  await a.keyboard.press("Enter");
  await message(b, "All good here.").waitFor();
  summary.timings_ms.alice_to_bob = Date.now() - sent2;

  begin("alice edits her last message with the Up key");
  await a.getByLabel("Message Bob Builder").press("ArrowUp");
  await a.getByText("Editing your message").waitFor();
  await a.getByLabel("Edit message").fill("How are you, Bob?");
  await a.keyboard.press("Enter");
  const edited = message(b, "How are you, Bob?");
  await edited.locator(".edited").waitFor();
  if (await message(b, "All good here.").count()) throw new Error("the edit did not replace the original text");

  begin("alice deletes a message; bob sees the placeholder");
  await a.getByLabel("Message Bob Builder").fill("oops, wrong chat");
  await a.keyboard.press("Enter");
  await message(b, "oops, wrong chat").waitFor();
  const oops = message(a, "oops, wrong chat");
  await oops.getByRole("button", { name: /Actions for message/ }).click();
  await oops.getByRole("button", { name: "Delete" }).click();
  await oops.getByRole("button", { name: "Delete for everyone" }).click();
  await b.locator("li.message .deleted", { hasText: "Message deleted" }).waitFor();
  await b.locator("li.message", { hasText: "oops, wrong chat" }).waitFor({ state: "detached" });

  begin("bob reacts and replies");
  const hello = message(b, "Hello Bob!");
  await hello.getByRole("button", { name: /Actions for message/ }).click();
  await hello.getByRole("button", { name: "React with 👍" }).click();
  await message(a, "Hello Bob!").getByRole("button", { name: /👍 1, reacted by Bob Builder/ }).waitFor();
  await hello.getByRole("button", { name: /Actions for message/ }).click();
  await hello.getByRole("button", { name: "Reply" }).click();
  await b.getByText(/Replying to alice/).waitFor();
  // Choosing Reply puts the focus in the message box.
  await b.waitForFunction(() => document.activeElement?.id === "composer-input");
  await b.keyboard.type("Nice to hear from you");
  await b.keyboard.press("Enter");
  await message(a, "Nice to hear from you").locator(".reply-quote", { hasText: "Hello Bob!" }).waitFor();

  begin("bob sends an image; alice sees the thumbnail");
  await b.locator('input[type="file"]').setInputFiles(IMAGE);
  const thumb = a.getByTestId("thumbnail");
  await thumb.waitFor();
  await a.waitForFunction(() => {
    const img = document.querySelector('[data-testid="thumbnail"]');
    return img && img.complete && img.naturalWidth > 0 && img.src.startsWith("blob:");
  });
  await shot(bob, "room-phone");
  summary.thumbnail = await thumb.evaluate((img) => ({ src: img.src.slice(0, 5), width: img.naturalWidth, height: img.naturalHeight }));
  await a.getByRole("button", { name: /Open image .* full size/ }).click();
  await a.locator("dialog .viewer img").waitFor();
  await a.waitForFunction(() => document.querySelector("dialog .viewer img")?.naturalWidth > 0);
  summary.full_size = await a.locator("dialog .viewer img").evaluate((img) => img.naturalWidth);
  await axe(alice, "image viewer");
  await a.keyboard.press("Escape");
  await a.locator("dialog").waitFor({ state: "detached" });
  await shot(alice, "room-desktop");

  begin("hostile HTML from bob is rendered harmless");
  // Sent by Bob through the API from a second device of his (a plain login, whose
  // token does not expire), as any client could.
  {
    const room = await b.evaluate(() => decodeURIComponent(location.hash.replace("#/room/", "")));
    const html = 'start-of-hostile <strong>bold</strong> <em>it</em> <img src=x onerror="window.__pwned=1">'
      + '<script>window.__pwned=2</script><a href="javascript:window.__pwned=3">js link</a>'
      + '<a href="https://example.org/" onclick="window.__pwned=4">safe link</a>'
      + '<iframe src="https://example.org"></iframe><svg><script>window.__pwned=5</script></svg>'
      + '<math><mi><style><img src=x onerror="window.__pwned=6"></style></mi></math>'
      + '<form action="https://evil.example"><input name=q></form><div style="position:fixed;inset:0">cover</div>'
      + '<span data-mx-color="#ff0000" onmouseover="window.__pwned=7">red</span><mx-reply>fallback</mx-reply>'
      + '<noscript><p title="</noscript><img src=x onerror=window.__pwned=8>"></noscript> end';
    const token = await apiLogin("bob", "battery staple horse");
    const response = await fetch(`${BASE}/_matrix/client/v3/rooms/${encodeURIComponent(room)}/send/m.room.message/hostile1`, {
      method: "PUT", headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ msgtype: "m.text", body: "hostile", format: "org.matrix.custom.html", formatted_body: html }),
    });
    if (!response.ok) throw new Error(`the hostile message was not sent: ${response.status}`);
  }
  const hostile = message(a, "start-of-hostile");
  await hostile.waitFor();
  await a.waitForTimeout(300); // any onerror would have fired by now
  summary.hostile = await hostile.evaluate((li) => {
    const body = li.querySelector(".body");
    const attributes = [...body.querySelectorAll("*")].flatMap((el) => [...el.attributes].map((x) => `${el.localName}[${x.name}]`));
    return {
      pwned: window.__pwned || null,
      tags: [...new Set([...body.querySelectorAll("*")].map((el) => el.localName))].sort(),
      on_attributes: attributes.filter((x) => /\[on/.test(x)),
      style_attributes: [...body.querySelectorAll("[style]")].map((el) => el.getAttribute("style")),
      hrefs: [...body.querySelectorAll("a")].map((x) => x.getAttribute("href")),
      rels: [...body.querySelectorAll("a")].map((x) => x.getAttribute("rel")),
      text: body.textContent,
    };
  });

  begin("the unread badge counts new messages and clears on reading");
  await b.getByRole("link", { name: "Back to chats" }).click();
  await a.getByLabel("Message Bob Builder").fill("Are you there?");
  await a.keyboard.press("Enter");
  await a.getByLabel("Message Bob Builder").fill("Ping");
  await a.keyboard.press("Enter");
  const badge = b.getByTestId("unread");
  await badge.filter({ hasText: "2" }).waitFor();
  await axe(bob, "chat list with unread (phone)");
  await shot(bob, "chat-list-phone");
  await b.getByRole("link", { name: /alice/ }).click();
  await message(b, "Ping").waitFor();
  await shot(bob, "room-phone-read");
  await b.getByRole("link", { name: "Back to chats" }).click();
  await b.getByRole("link", { name: /alice/ }).waitFor();
  await b.waitForTimeout(500);
  if (await badge.count()) throw new Error("the unread badge stayed after reading");
  // The server agrees: after a sync the count is still zero.
  await b.getByRole("link", { name: /alice/ }).click();

  begin("going offline shows the banner; coming back reconnects");
  await alice.context.setOffline(true);
  await a.getByRole("status").filter({ hasText: /offline|Reconnecting/ }).waitFor();
  await alice.context.setOffline(false);
  await a.locator(".banner").waitFor({ state: "detached", timeout: 40000 });
  await b.getByLabel(/^Message /).fill("Back online?");
  await b.keyboard.press("Enter");
  await message(a, "Back online?").waitFor();

  begin("history search finds an old message");
  await a.getByRole("button", { name: "Search messages in this chat" }).click();
  await a.getByLabel("Search for").fill("hear");
  await a.locator("dialog").getByRole("button", { name: "Search" }).click();
  await a.locator(".search-results", { hasText: "Nice to hear from you" }).waitFor();
  await axe(alice, "history search");
  await a.keyboard.press("Escape");

  begin("chat settings list the members");
  await a.getByRole("button", { name: "Chat settings and members" }).click();
  await a.locator(".members", { hasText: "Bob Builder" }).waitFor();
  await axe(alice, "chat settings");
  await a.keyboard.press("Escape");

  begin("alice reports a message and blocks, then unblocks, bob");
  const hi = message(a, "Hi Alice");
  await hi.getByRole("button", { name: /Actions for message/ }).click();
  await hi.getByRole("button", { name: "Report" }).click();
  await a.getByLabel("What is wrong?").fill("just testing reports");
  await axe(alice, "report dialog");
  await a.getByRole("button", { name: "Send report" }).click();
  await a.getByText(/The report was sent/).waitFor();
  await a.getByRole("button", { name: "Close", exact: true }).first().click();
  await a.getByRole("button", { name: "Chat settings and members" }).click();
  await a.getByRole("button", { name: "Block Bob Builder" }).click();
  await a.getByRole("button", { name: "Unblock Bob Builder" }).waitFor();
  summary.blocked_hides_messages = (await message(a, "Hi Alice").count()) === 0;
  await a.getByRole("button", { name: "Unblock Bob Builder" }).click();
  await a.getByRole("button", { name: "Block Bob Builder" }).waitFor();
  await a.keyboard.press("Escape");
  await a.locator("dialog").waitFor({ state: "detached" });

  begin("bob changes his picture; alice sees it");
  await b.getByRole("link", { name: "Back to chats" }).click();
  await b.getByRole("button", { name: /your profile and settings/i }).click();
  await b.locator('dialog input[type="file"]').setInputFiles(IMAGE);
  await b.getByText("Picture updated.").waitFor();
  await b.keyboard.press("Escape");
  await a.waitForFunction(() => [...document.querySelectorAll(".room-header .avatar img")].some((img) => img.src.startsWith("blob:") && img.naturalWidth > 0));

  begin("alice creates a group; bob is invited to it");
  await a.getByRole("button", { name: "New group chat" }).click();
  await a.getByLabel("Group name").fill("Weekend plans");
  await a.getByLabel("Add people").fill("bob");
  await a.locator("dialog").getByRole("button", { name: /Bob Builder/ }).click();
  await a.locator(".chips", { hasText: "Bob Builder" }).waitFor();
  await axe(alice, "new group dialog");
  await a.getByRole("button", { name: "Create group" }).click();
  await a.getByRole("heading", { name: "Weekend plans", level: 1 }).waitFor();
  await b.getByRole("button", { name: "Accept invitation to Weekend plans" }).click();
  await b.getByRole("heading", { name: "Weekend plans", level: 1 }).waitFor();
  await b.getByLabel(/^Message /).fill("Count me in");
  await b.keyboard.press("Enter");
  await message(a, "Count me in").waitFor();

  begin("after a reload, scrolling up loads the whole history");
  for (let i = 0; i < 45; i++) {
    await b.getByLabel(/^Message /).fill(`history ${i}`);
    await b.keyboard.press("Enter");
  }
  await message(a, "history 44").waitFor();
  await a.reload();
  await message(a, "history 44").waitFor();
  const loadedAtFirst = await messages(a).count();
  for (let i = 0; i < 10 && !(await a.getByText("This is the beginning of the conversation.").count()); i++) {
    await a.locator(".timeline").evaluate((el) => { el.scrollTop = 0; el.dispatchEvent(new Event("scroll")); });
    await a.waitForTimeout(200);
  }
  await a.getByText("This is the beginning of the conversation.").waitFor();
  summary.history = { loaded_at_first: loadedAtFirst, loaded_at_the_end: await messages(a).count() };
  await message(a, "history 0").waitFor();
  await message(a, "Count me in").waitFor();

  begin("keyboard only: from the people search to a chat and its message box");
  await a.getByRole("searchbox", { name: "Find people" }).focus();
  await a.keyboard.press("Tab");
  summary.keyboard = await a.evaluate(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return { link: el.matches(".rooms a"), outline: style.outlineStyle, outline_width: style.outlineWidth, text: el.textContent };
  });
  await a.keyboard.press("Enter");
  await a.getByRole("heading", { level: 1 }).filter({ hasText: summary.keyboard.text.includes("Weekend") ? "Weekend plans" : "Bob Builder" }).waitFor();
  await a.locator("#composer-input").focus();
  await a.keyboard.type("typed without a mouse");
  await a.keyboard.press("Enter");
  // Sent: the server's copy replaced the local echo.
  await message(a, "typed without a mouse").waitFor();
  await message(a, "typed without a mouse").locator(".pending").waitFor({ state: "detached" });

  begin("screenshots and the last scans");
  await a.locator("dialog").waitFor({ state: "detached" });
  await axe(alice, "room (desktop)");
  await a.setViewportSize({ width: 360, height: 740 });
  await axe(alice, "room (phone width)");
  // Nothing wider than the phone's screen: no sideways scrolling at 360 px.
  summary.phone_overflow = await a.evaluate(() => document.documentElement.scrollWidth - innerWidth)
    + await b.evaluate(() => document.documentElement.scrollWidth - innerWidth);
  await b.setViewportSize({ width: 1024, height: 700 });
  await axe(bob, "room (tablet width)");
  await shot(bob, "room-tablet");

  begin("done");
  summary.failed_step = null;
}

await runScript(browser, summary, ARTEFACTS, main);
