// Sign-up against a server with terms, a registration token and a password policy:
// each error is shown next to the field it concerns (inside its .field and named by the
// input's aria-describedby); then sign-out, a wrong password, and "keep me signed in"
// turned off (the session lives in sessionStorage only and survives a reload).
//
//   node signup.mjs BASE_URL ARTEFACT_DIR
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { axeViolations, launch, runScript } from "./browser.mjs";

const [BASE, ARTEFACTS] = process.argv.slice(2);
mkdirSync(ARTEFACTS, { recursive: true });
const summary = { script: "signup", steps: [], violations: [], errors: {} };
const begin = (name) => { summary.failed_step = name; summary.steps.push(name); };

const browser = await launch();
const context = await browser.newContext({ viewport: { width: 400, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(15000);

async function axe(screen) {
  for (const v of await axeViolations(page)) {
    if (v.impact === "serious" || v.impact === "critical") summary.violations.push({ screen, ...v });
  }
}

// The error text shown for an input, if it is tied to the input and sits beside it.
async function errorBeside(input) {
  return input.evaluate((el) => {
    const ids = (el.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    const error = ids.map((id) => document.getElementById(id)).find((x) => x && x.classList.contains("error"));
    if (!error || el.getAttribute("aria-invalid") !== "true") return null;
    const container = el.closest(".field, fieldset");
    return container && container.contains(error) ? error.textContent : `(not beside) ${error.textContent}`;
  });
}

async function main() {
  begin("the sign-up form shows the terms and the token field");
  await page.goto(`${BASE}/#/register`);
  const terms = page.getByLabel("I accept the terms above");
  await terms.waitFor();
  summary.policy_link = await page.locator(".terms a").getAttribute("href");
  const username = page.getByLabel("Username");
  const password = page.getByLabel("Password", { exact: true });
  const token = page.getByLabel("Registration token");
  await username.fill("carol");
  await password.fill("no digits here");
  await page.getByLabel("Confirm password").fill("no digits here");
  await token.fill("wrong token");

  begin("terms not accepted: the error is beside the checkbox");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.locator("#terms-error").waitFor();
  summary.errors.terms = await errorBeside(terms);
  await axe("sign-up with the terms error");
  await page.screenshot({ path: join(ARTEFACTS, "signup-terms-phone.png") });

  begin("a weak password: the server's error is beside the password");
  await terms.check();
  await page.getByRole("button", { name: "Create account" }).click();
  await page.locator(".field", { has: password }).locator(".error").waitFor();
  summary.errors.password = await errorBeside(password);

  begin("a wrong token: the error is beside the token field");
  await password.fill("now with 1 digit");
  await page.getByLabel("Confirm password").fill("now with 1 digit");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.locator(".field", { has: token }).locator(".error").waitFor();
  summary.errors.token = await errorBeside(token);
  await axe("sign-up with the token error");

  begin("the right token signs carol up");
  await token.fill("let-me-in");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("searchbox", { name: "Find people" }).waitFor();

  begin("sign out");
  await page.getByRole("button", { name: /your profile and settings/i }).click();
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  summary.stored_after_sign_out = await page.evaluate(() => [localStorage.length, sessionStorage.length]);

  begin("a wrong password is refused beside the password field");
  await page.getByLabel("Username").fill("carol");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Wrong username or password.").waitFor();
  summary.errors.login = await errorBeside(page.getByLabel("Password"));

  begin("not kept signed in: the session lives in this tab only");
  await page.getByLabel("Password").fill("now with 1 digit");
  await page.getByLabel("Keep me signed in on this device").uncheck();
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("searchbox", { name: "Find people" }).waitFor();
  summary.storage = await page.evaluate(() => ({
    local: localStorage.getItem("homeserver.web.session") !== null,
    session: sessionStorage.getItem("homeserver.web.session") !== null,
  }));
  await page.reload();
  await page.getByRole("searchbox", { name: "Find people" }).waitFor();
  summary.failed_step = null;
}

await runScript(browser, summary, ARTEFACTS, main);
