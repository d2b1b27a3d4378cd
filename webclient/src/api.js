// The client-server API over fetch: the access token goes in the Authorization header
// (never in a URL), an expired token is refreshed once and the request retried, and
// uploads report progress. Only public endpoints of the spec are used, so this works
// against any homeserver.

export class MatrixError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.errcode = (body && body.errcode) || "M_UNKNOWN";
    this.body = body || {};
  }
}

export class NetworkError extends Error {}

const CLIENT = "/_matrix/client/v3";

function query(params) {
  const entries = Object.entries(params || {}).filter(([, v]) => v !== undefined && v !== null);
  if (!entries.length) return "";
  return "?" + new URLSearchParams(entries.map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]));
}

export function enc(part) {
  return encodeURIComponent(part);
}

export class Api {
  // session: {user_id, access_token, refresh_token?, device_id}; onSession(session|null)
  // is told when a refresh rotates the tokens or the server ends the session.
  constructor(baseUrl, session, onSession) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
    this.session = session;
    this.onSession = onSession || (() => {});
    this.refreshing = null;
  }

  url(path, params) {
    return this.baseUrl + (path.startsWith("/") ? path : `${CLIENT}/${path}`) + query(params);
  }

  // PUTs (sends with a transaction ID, state, account data, typing) are idempotent, so
  // a server error or a dropped connection is retried twice before it is shown.
  async request(method, path, options = {}) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.once(method, path, options);
      } catch (e) {
        const transient = e instanceof NetworkError || (e instanceof MatrixError && e.status >= 500);
        if (method !== "PUT" || !transient || attempt >= 2) throw e;
        await new Promise((resolve) => setTimeout(resolve, 500 * (attempt + 1)));
      }
    }
  }

  async once(method, path, { body, params, auth = true, signal, retried = false } = {}) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && this.session) headers.Authorization = `Bearer ${this.session.access_token}`;
    let response;
    try {
      response = await fetch(this.url(path, params), {
        method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      throw new NetworkError(e.message);
    }
    const data = await response.json().catch(() => ({}));
    if (response.ok) return data;
    const error = new MatrixError(response.status, data);
    if (auth && !retried && error.errcode === "M_UNKNOWN_TOKEN" && this.session?.refresh_token) {
      await this.refresh();
      return this.once(method, path, { body, params, auth, signal, retried: true });
    }
    if (auth && error.errcode === "M_UNKNOWN_TOKEN") this.onSession(null);
    throw error;
  }

  get(path, params, options) {
    return this.request("GET", path, { params, ...options });
  }

  post(path, body = {}, options) {
    return this.request("POST", path, { body, ...options });
  }

  put(path, body = {}, options) {
    return this.request("PUT", path, { body, ...options });
  }

  // Spec: client-server-api "Refreshing access tokens". One refresh at a time: requests
  // that fail together wait for the same new token.
  refresh() {
    if (!this.refreshing) {
      const old = this.session;
      this.refreshing = this.request("POST", "refresh", { body: { refresh_token: old.refresh_token }, auth: false })
        .then((tokens) => {
          this.session = { ...old, ...tokens };
          this.onSession(this.session);
        })
        .catch((e) => {
          // Only a refused refresh token ends the session; a server error is retried
          // by whatever asked next.
          if (e instanceof MatrixError && (e.status === 401 || e.status === 403)) this.onSession(null);
          throw e;
        })
        .finally(() => { this.refreshing = null; });
    }
    return this.refreshing;
  }

  // POST /_matrix/media/v3/upload through XMLHttpRequest, the one browser API that reports
  // upload progress. Resolves to the content URI.
  upload(file, onProgress, retried = false) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.url("/_matrix/media/v3/upload", { filename: file.name }));
      xhr.setRequestHeader("Authorization", `Bearer ${this.session.access_token}`);
      xhr.setRequestHeader("Content-Type", file.type || "application/octet-stream");
      xhr.upload.onprogress = (e) => e.lengthComputable && onProgress && onProgress(e.loaded / e.total);
      xhr.onerror = () => reject(new NetworkError("upload failed"));
      xhr.onload = () => {
        let data = {};
        try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
        if (xhr.status === 200) return resolve(data.content_uri);
        const error = new MatrixError(xhr.status, data);
        if (!retried && error.errcode === "M_UNKNOWN_TOKEN" && this.session.refresh_token) {
          this.refresh().then(() => this.upload(file, onProgress, true)).then(resolve, reject);
        } else reject(error);
      };
      xhr.send(file);
    });
  }

  // Authenticated media (spec v1.11, /_matrix/client/v1/media): fetched with the header,
  // handed to the page as a blob: URL so no token ever reaches an <img src>.
  async media(mxc, size, retried = false) {
    const match = /^mxc:\/\/([^/]+)\/([A-Za-z0-9_-]+)$/.exec(mxc || "");
    if (!match) throw new MatrixError(400, { errcode: "M_INVALID_PARAM", error: "not an mxc URI" });
    const [, server, mediaId] = match;
    const path = size
      ? `/_matrix/client/v1/media/thumbnail/${enc(server)}/${enc(mediaId)}`
      : `/_matrix/client/v1/media/download/${enc(server)}/${enc(mediaId)}`;
    const params = size ? { width: size.width, height: size.height, method: size.method || "scale" } : {};
    const response = await fetch(this.url(path, params), {
      headers: { Authorization: `Bearer ${this.session.access_token}` },
    });
    if (response.status === 401 && !retried && this.session.refresh_token) {
      await this.refresh();
      return this.media(mxc, size, true);
    }
    if (!response.ok) throw new MatrixError(response.status, await response.json().catch(() => ({})));
    return URL.createObjectURL(await response.blob());
  }
}
