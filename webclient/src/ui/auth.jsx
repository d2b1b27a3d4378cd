// Sign-in and sign-up. Sign-up walks the server's user-interactive auth flow (dummy,
// terms, registration token) and shows each error next to the field it concerns.

import { useEffect, useState } from "preact/hooks";
import { MatrixError } from "../api.js";
import { errorText, Field } from "./common.jsx";

const DEVICE_NAME = "Web browser";
const SUPPORTED = new Set(["m.login.dummy", "m.login.terms", "m.login.registration_token"]);

// Which field a server error belongs next to.
function fieldOf(e) {
  if (!(e instanceof MatrixError)) return "form";
  if (["M_USER_IN_USE", "M_INVALID_USERNAME", "M_EXCLUSIVE"].includes(e.errcode)) return "username";
  if (e.errcode === "M_WEAK_PASSWORD" || e.errcode === "M_PASSWORD_TOO_SHORT") return "password";
  return "form";
}

export function AuthScreen({ api, onSession, notice }) {
  const [mode, setMode] = useState(location.hash === "#/register" ? "register" : "login");
  const go = (next) => {
    history.replaceState(null, "", next === "register" ? "#/register" : "#/login");
    setMode(next);
  };
  return (
    <main class="auth">
      <div class="auth-card">
        <h1>{mode === "login" ? "Sign in" : "Create an account"}</h1>
        {notice && <p class="notice" role="status">{notice}</p>}
        {mode === "login" ? <Login api={api} onSession={onSession} /> : <Register api={api} onSession={onSession} />}
        <p class="switch">
          {mode === "login" ? "New here? " : "Already have an account? "}
          <a href={mode === "login" ? "#/register" : "#/login"} onClick={(e) => { e.preventDefault(); go(mode === "login" ? "register" : "login"); }}>
            {mode === "login" ? "Create an account" : "Sign in"}
          </a>
        </p>
      </div>
    </main>
  );
}

function Login({ api, onSession }) {
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [remember, setRemember] = useState(true);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  async function submit(e) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const session = await api.request("POST", "login", {
        auth: false,
        body: {
          type: "m.login.password", identifier: { type: "m.id.user", user: username.trim() }, password,
          refresh_token: true, initial_device_display_name: DEVICE_NAME,
        },
      });
      onSession(session, remember);
    } catch (err) {
      setError(err.errcode === "M_FORBIDDEN" ? "Wrong username or password." : errorText(err));
      setBusy(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <Field label="Username" value={username} onInput={setUsername} autocomplete="username" required autoFocus />
      <Field label="Password" type="password" value={password} onInput={setPassword} autocomplete="current-password" required error={error} />
      <div class="check">
        <input id="remember" type="checkbox" checked={remember} onChange={(e) => setRemember(e.currentTarget.checked)} />
        <label for="remember">Keep me signed in on this device</label>
      </div>
      <button class="primary" type="submit" disabled={busy || !username || !password}>{busy ? "Signing in…" : "Sign in"}</button>
    </form>
  );
}

function Register({ api, onSession }) {
  const [values, setValues] = useState({ username: "", password: "", confirm: "", token: "" });
  const [accepted, setAccepted] = useState(false);
  const [errors, setErrors] = useState({});
  const [uia, setUia] = useState(null); // {session, flow, params}
  const [busy, setBusy] = useState(false);
  const set = (key) => (value) => setValues((v) => ({ ...v, [key]: value }));

  // An empty POST /register answers 401 with the flows, before anything is typed, so
  // the terms and the token field are shown up front.
  useEffect(() => {
    api.request("POST", "register", { auth: false, body: {} }).catch((e) => {
      if (e.status === 401 && e.body.flows) setUia(flowOf(e.body));
      else setErrors({ form: errorText(e) });
    });
  }, []);

  const stages = uia?.flow || [];
  const policies = Object.entries(uia?.params?.["m.login.terms"]?.policies || {});

  function check() {
    const found = {};
    if (!values.username.trim()) found.username = "Choose a username.";
    if (!values.password) found.password = "Choose a password.";
    else if (values.password !== values.confirm) found.confirm = "The passwords do not match.";
    if (stages.includes("m.login.registration_token") && !values.token.trim()) found.token = "Enter the registration token you were given.";
    if (stages.includes("m.login.terms") && !accepted) found.terms = "Accept the terms to create an account.";
    return found;
  }

  async function submit(e) {
    e.preventDefault();
    const found = check();
    setErrors(found);
    if (Object.keys(found).length || !uia) return;
    if (uia.unsupported) {
      setErrors({ form: "This server asks for a sign-up step this app does not support." });
      return;
    }
    setBusy(true);
    const body = {
      username: values.username.trim(), password: values.password,
      refresh_token: true, initial_device_display_name: DEVICE_NAME,
    };
    let { session } = uia;
    let completed = [];
    try {
      for (;;) {
        const stage = stages.find((s) => !completed.includes(s));
        if (!stage) throw new Error("The server did not accept the sign-up steps.");
        const auth = { type: stage, session };
        if (stage === "m.login.registration_token") auth.token = values.token.trim();
        try {
          const result = await api.request("POST", "register", { auth: false, body: { ...body, auth } });
          onSession(result, true);
          return;
        } catch (err) {
          if (!(err.status === 401 && err.body.flows) || err.body.errcode) throw Object.assign(err, { stage });
          session = err.body.session || session;
          completed = err.body.completed || [];
        }
      }
    } catch (err) {
      const where = err.stage === "m.login.registration_token" && fieldOf(err) === "form" ? "token"
        : err.stage === "m.login.terms" && fieldOf(err) === "form" ? "terms" : fieldOf(err);
      setErrors({ [where]: errorText(err) });
      if (err.status === 401 && err.body.flows) setUia(flowOf(err.body));
      setBusy(false);
    }
  }

  async function checkAvailable() {
    const username = values.username.trim();
    if (!username) return;
    try {
      await api.get("register/available", { username }, { auth: false });
    } catch (e) {
      if (fieldOf(e) === "username") setErrors((x) => ({ ...x, username: errorText(e) }));
    }
  }

  return (
    <form onSubmit={submit} noValidate>
      <Field label="Username" value={values.username} onInput={set("username")} onBlur={checkAvailable}
        autocomplete="username" required autoFocus error={errors.username}
        hint="Lower-case letters, digits and . _ = - / + only." />
      <Field label="Password" type="password" value={values.password} onInput={set("password")}
        autocomplete="new-password" required error={errors.password} />
      <Field label="Confirm password" type="password" value={values.confirm} onInput={set("confirm")}
        autocomplete="new-password" required error={errors.confirm} />
      {stages.includes("m.login.registration_token") && (
        <Field label="Registration token" value={values.token} onInput={set("token")} required error={errors.token} />
      )}
      {stages.includes("m.login.terms") && (
        <fieldset class="terms">
          <legend>Terms of service</legend>
          <ul>
            {policies.map(([name, policy]) => {
              const text = policy.en || Object.values(policy).find((v) => typeof v === "object") || {};
              const url = /^https?:\/\//i.test(text.url || "") ? text.url : undefined;
              return <li key={name}><a href={url} target="_blank" rel="noopener noreferrer">{text.name || name}</a></li>;
            })}
          </ul>
          <div class="check">
            <input id="accept-terms" type="checkbox" checked={accepted} onChange={(e) => setAccepted(e.currentTarget.checked)}
              aria-invalid={errors.terms ? "true" : undefined} aria-describedby={errors.terms ? "terms-error" : undefined} />
            <label for="accept-terms">I accept the terms above</label>
          </div>
          {errors.terms && <p class="error" id="terms-error" role="alert">{errors.terms}</p>}
        </fieldset>
      )}
      {errors.form && <p class="error" role="alert">{errors.form}</p>}
      <button class="primary" type="submit" disabled={busy || !uia}>{busy ? "Creating account…" : "Create account"}</button>
    </form>
  );
}

function flowOf(body) {
  const flow = (body.flows || []).find((f) => (f.stages || []).every((s) => SUPPORTED.has(s)));
  return { session: body.session, flow: flow ? flow.stages : [], params: body.params || {}, unsupported: !flow };
}
