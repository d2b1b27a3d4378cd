// The spec's sanitised subset of formatted_body (client-server-api "m.room.message
// msgtypes", the suggested tags and their permitted attributes), by allow-list.
//
// The HTML is parsed into an inert document (no scripts run, nothing loads), then a new
// tree is built from it node by node: only allowed tag names are created, only allowed
// attributes with checked values are set, and text is copied as text. Nothing is ever
// serialised back to a string and parsed again, so no mutation-XSS round trip exists.

const TAGS = new Set([
  "font", "del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol",
  "sup", "sub", "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div",
  "table", "thead", "tbody", "tr", "th", "td", "caption", "pre", "span", "img", "details",
  "summary",
]);

// Dropped with everything inside them; other unknown tags are unwrapped (their text kept).
// mx-reply: spec v1.13 says to strip the tag and its content.
const DROP = new Set([
  "mx-reply", "script", "style", "template", "iframe", "object", "embed", "noscript",
  "title", "head", "svg", "math", "textarea", "select", "option", "frame", "frameset",
]);

const HREF_SCHEMES = /^(https?|ftp|mailto|magnet):/i;
const COLOR = /^#[0-9a-fA-F]{6}$/;
const MAX_DEPTH = 100; // "Tags must not be nested more than 100 levels deep."
const MAX_IMAGE = 800;
const PAGE_BACKGROUND = "#ffffff"; // styles.css --bg
const PAGE_TEXT = "#1b1d21"; // styles.css --text

const policy = typeof window !== "undefined" && window.trustedTypes
  ? window.trustedTypes.createPolicy("matrix-html", { createHTML: (s) => s })
  : { createHTML: (s) => s };

// WCAG 2.1 relative luminance and contrast ratio of two #rrggbb colours.
function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a, b) {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

// The sender's colours, unless they would make the text hard to read (under 4.5:1
// against the page's text or background colour).
function applyColours(color, background, to) {
  const fg = color && COLOR.test(color) ? color : null;
  const bg = background && COLOR.test(background) ? background : null;
  if (fg && contrast(fg, bg || PAGE_BACKGROUND) >= 4.5) to.style.color = fg;
  if (bg && contrast(to.style.color ? fg : PAGE_TEXT, bg) >= 4.5) to.style.backgroundColor = bg;
}

function copyAttributes(tag, from, to) {
  const get = (name) => from.getAttribute(name);
  if (tag === "font" || tag === "span") {
    applyColours(get("data-mx-color") || (tag === "font" ? get("color") : null), get("data-mx-bg-color"), to);
  }
  if (tag === "span" && from.hasAttribute("data-mx-spoiler")) {
    to.className = "spoiler";
    to.tabIndex = 0;
    to.title = get("data-mx-spoiler") || "Spoiler";
  }
  if (tag === "a" && to.localName === "a") {
    const href = (get("href") || "").trim();
    if (HREF_SCHEMES.test(href)) {
      to.setAttribute("href", href);
      to.setAttribute("target", "_blank");
      to.setAttribute("rel", "noopener noreferrer nofollow");
    }
  }
  if (tag === "ol" && /^-?\d{1,9}$/.test(get("start") || "")) to.setAttribute("start", get("start"));
  if (tag === "code") {
    const language = (get("class") || "").split(/\s+/).find((c) => /^language-[\w+#-]{1,40}$/.test(c));
    if (language) to.className = language;
  }
  if (tag === "img") {
    // Only mxc:// sources; the element gets no src here. The timeline fetches the
    // media with the access token and sets a blob: URL (see MediaImages in ui/).
    for (const name of ["alt", "title"]) if (get(name)) to.setAttribute(name, get(name).slice(0, 500));
    for (const name of ["width", "height"]) {
      const n = parseInt(get(name), 10);
      if (n > 0) to.setAttribute(name, String(Math.min(n, MAX_IMAGE)));
    }
    const src = get("src") || "";
    if (/^mxc:\/\/[^/]+\/[A-Za-z0-9_-]+$/.test(src)) to.dataset.mxc = src;
    if (!to.getAttribute("alt")) to.setAttribute("alt", "image");
  }
}

function copyChildren(from, to, doc, depth) {
  for (const node of from.childNodes) {
    if (node.nodeType === 3) {
      to.appendChild(doc.createTextNode(node.data));
    } else if (node.nodeType === 1) {
      const tag = node.localName;
      if (DROP.has(tag)) continue;
      if (depth >= MAX_DEPTH) {
        to.appendChild(doc.createTextNode(node.textContent));
        continue;
      }
      if (!TAGS.has(tag)) {
        copyChildren(node, to, doc, depth + 1);
        continue;
      }
      // A link that is not to an allowed scheme keeps its text, not its link.
      const linkless = tag === "a" && !HREF_SCHEMES.test((node.getAttribute("href") || "").trim());
      const element = doc.createElement(tag === "font" || linkless ? "span" : tag);
      copyAttributes(tag, node, element);
      if (tag === "img" && !element.dataset.mxc) {
        to.appendChild(doc.createTextNode(element.getAttribute("alt")));
        continue;
      }
      copyChildren(node, element, doc, depth + 1);
      to.appendChild(element);
    }
  }
}

// A DocumentFragment of the page's document holding the sanitised tree. Each distinct
// HTML is parsed once (a copy of the result is handed out after that).
export function sanitizeHtml(html, cache = null, doc = document) {
  const key = String(html);
  let fragment = cache?.get(key);
  if (!fragment) {
    const parsed = new DOMParser().parseFromString(policy.createHTML(key), "text/html");
    fragment = doc.createDocumentFragment();
    copyChildren(parsed.body, fragment, doc, 0);
    cache?.set(key, fragment);
  }
  return fragment.cloneNode(true);
}
