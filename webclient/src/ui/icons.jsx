// Line icons as inline SVG (no icon font, nothing fetched); each is decorative, the
// button around it carries the label.

const PATHS = {
  search: "M10.5 3a7.5 7.5 0 0 1 5.9 12.1l4.3 4.3-1.4 1.4-4.3-4.3A7.5 7.5 0 1 1 10.5 3zm0 2a5.5 5.5 0 1 0 0 11 5.5 5.5 0 0 0 0-11z",
  plus: "M11 4h2v7h7v2h-7v7h-2v-7H4v-2h7z",
  settings: "M12 8a4 4 0 1 1 0 8 4 4 0 0 1 0-8zm0 2a2 2 0 1 0 0 4 2 2 0 0 0 0-4zM10.6 2h2.8l.5 2.6 1.6.9 2.5-.9 1.4 2.4-2 1.7v1.9l2 1.7-1.4 2.4-2.5-.9-1.6.9-.5 2.6h-2.8l-.5-2.6-1.6-.9-2.5.9-1.4-2.4 2-1.7V9.3l-2-1.7 1.4-2.4 2.5.9 1.6-.9z",
  back: "M10.4 5.3 11.8 6.7 7.5 11H20v2H7.5l4.3 4.3-1.4 1.4L3.7 12z",
  attach: "M16.5 6.5v10a4.5 4.5 0 0 1-9 0V5a3 3 0 0 1 6 0v10.5a1.5 1.5 0 0 1-3 0V6.5h-1.5v9a3 3 0 0 0 6 0V5a4.5 4.5 0 0 0-9 0v11.5a6 6 0 0 0 12 0v-10z",
  smile: "M12 2a10 10 0 1 1 0 20 10 10 0 0 1 0-20zm0 2a8 8 0 1 0 0 16 8 8 0 0 0 0-16zM8.5 8a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zm7 0a1.5 1.5 0 1 1 0 3 1.5 1.5 0 0 1 0-3zM7.5 13.5h2a2.5 2.5 0 0 0 5 0h2a4.5 4.5 0 0 1-9 0z",
  close: "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4z",
  more: "M5 10a2 2 0 1 1 0 4 2 2 0 0 1 0-4zm7 0a2 2 0 1 1 0 4 2 2 0 0 1 0-4zm7 0a2 2 0 1 1 0 4 2 2 0 0 1 0-4z",
  file: "M6 2h8l6 6v14H6zm2 2v16h10V9h-5V4zm7 .8V7h2.2z",
  send: "M3 20.5V14l9-2-9-2V3.5L22 12z",
};

export function Icon({ name, size = 20 }) {
  return (
    <svg class="svg-icon" width={size} height={size} viewBox="0 0 24 24" aria-hidden="true" focusable="false">
      <path d={PATHS[name]} fill="currentColor" fill-rule="evenodd" />
    </svg>
  );
}
