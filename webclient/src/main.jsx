// Entry point: restores the session ("keep me signed in" keeps it in localStorage with
// its refresh token; otherwise it lives only as long as the tab), then shows sign-in or
// the chat.

import { Component, render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { Api } from "./api.js";
import { Store } from "./store.js";
import { AuthScreen } from "./ui/auth.jsx";
import { Chat } from "./ui/chat.jsx";
import { MediaCache, StoreContext } from "./ui/common.jsx";
import "./styles.css";

const KEY = "homeserver.web.session";
const BASE_URL = location.origin;

function loadSession() {
  for (const storage of [localStorage, sessionStorage]) {
    try {
      const session = JSON.parse(storage.getItem(KEY) || "null");
      if (session && session.access_token && session.user_id) return { ...session, remember: storage === localStorage };
    } catch {
      storage.removeItem(KEY);
    }
  }
  return null;
}

function saveSession(session) {
  localStorage.removeItem(KEY);
  sessionStorage.removeItem(KEY);
  if (!session) return;
  const { user_id, access_token, refresh_token, device_id, remember } = session;
  (remember ? localStorage : sessionStorage).setItem(KEY, JSON.stringify({ user_id, access_token, refresh_token, device_id }));
}

function App() {
  const [session, setSession] = useState(loadSession);
  const [notice, setNotice] = useState(null);

  function changeSession(next) {
    if (!next) {
      setNotice("You were signed out. Please sign in again.");
      saveSession(null);
      setSession(null);
      return;
    }
    const merged = { ...next, remember: session?.remember ?? next.remember };
    saveSession(merged);
    // A refresh only rotates tokens: the running Api already holds them.
  }

  const api = useMemo(() => new Api(BASE_URL, session, changeSession), [session?.user_id, session?.device_id]);

  if (!session) {
    return <AuthScreen api={api} notice={notice} onSession={(s, remember) => {
      const next = { ...s, remember };
      saveSession(next);
      setNotice(null);
      history.replaceState(null, "", "#/");
      setSession(next);
    }} />;
  }
  return <SignedIn api={api} onLogout={async () => {
    await api.post("logout", {}).catch(() => {});
    saveSession(null);
    setNotice(null);
    setSession(null);
  }} />;
}

function SignedIn({ api, onLogout }) {
  const store = useMemo(() => {
    const s = new Store(api);
    s.media = new MediaCache(api);
    return s;
  }, [api]);
  useEffect(() => {
    store.start();
    return () => {
      store.stop();
      store.media.revokeAll();
    };
  }, [store]);
  return <StoreContext.Provider value={store}><Chat onLogout={onLogout} /></StoreContext.Provider>;
}

// A bug in a screen shows this instead of a blank page.
class ErrorBoundary extends Component {
  componentDidCatch(error) {
    this.setState({ error });
  }

  render() {
    if (!this.state.error) return this.props.children;
    return (
      <main class="auth">
        <div class="auth-card" role="alert">
          <h1>Something went wrong</h1>
          <p class="error">{String(this.state.error.message || this.state.error)}</p>
          <button type="button" class="primary" onClick={() => location.reload()}>Reload</button>
        </div>
      </main>
    );
  }
}

render(<ErrorBoundary><App /></ErrorBoundary>, document.getElementById("app"));
