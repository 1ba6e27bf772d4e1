// ANSI colour codes (SGR: ESC [ … m) in a plain-text agent's output, drawn as coloured spans; every
// other escape sequence is dropped. Text goes in as text nodes only.

const SEQUENCE = /\x1b\[([0-9;]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;
const PALETTE = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

/** Does `text` hold an escape sequence worth parsing? */
export function hasAnsi(text) {
  return typeof text === 'string' && text.includes('\x1b');
}

/** An xterm 256-colour index as CSS. */
function color256(n) {
  if (n < 16) return null; // the 16 named ones are classes
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const level = (x) => (x ? 55 + x * 40 : 0);
  return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
}

function named(n) {
  return n < 8 ? PALETTE[n] : `bright-${PALETTE[n - 8]}`;
}

/** Apply one SGR parameter list to the current style; returns how many parameters it used. */
function apply(style, codes, i) {
  const code = codes[i];
  if (code === 0) Object.assign(style, { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false });
  else if (code === 1) style.bold = true;
  else if (code === 2) style.dim = true;
  else if (code === 3) style.italic = true;
  else if (code === 4) style.underline = true;
  else if (code === 22) style.bold = style.dim = false;
  else if (code === 23) style.italic = false;
  else if (code === 24) style.underline = false;
  else if (code >= 30 && code <= 37) style.fg = named(code - 30);
  else if (code >= 90 && code <= 97) style.fg = named(code - 90 + 8);
  else if (code >= 40 && code <= 47) style.bg = named(code - 40);
  else if (code >= 100 && code <= 107) style.bg = named(code - 100 + 8);
  else if (code === 39) style.fg = null;
  else if (code === 49) style.bg = null;
  else if (code === 38 || code === 48) {
    const key = code === 38 ? 'fg' : 'bg';
    if (codes[i + 1] === 5 && codes[i + 2] !== undefined) {
      const n = codes[i + 2];
      style[key] = n < 16 ? named(n) : color256(n);
      return 3;
    }
    if (codes[i + 1] === 2 && codes[i + 4] !== undefined) {
      style[key] = `rgb(${codes[i + 2]},${codes[i + 3]},${codes[i + 4]})`;
      return 5;
    }
  }
  return 1;
}

function span(text, style) {
  if (!style.fg && !style.bg && !style.bold && !style.dim && !style.italic && !style.underline) {
    return document.createTextNode(text);
  }
  const el = document.createElement('span');
  const classes = [];
  for (const [key, value] of [['fg', style.fg], ['bg', style.bg]]) {
    if (!value) continue;
    if (value.startsWith('rgb')) el.style[key === 'fg' ? 'color' : 'backgroundColor'] = value;
    else classes.push(`ansi-${key}-${value}`);
  }
  for (const flag of ['bold', 'dim', 'italic', 'underline']) if (style[flag]) classes.push(`ansi-${flag}`);
  el.className = classes.join(' ');
  el.textContent = text;
  return el;
}

/** `text` without any escape sequence (where colours cannot be drawn: a title, a one-line preview). */
export function stripAnsi(text) {
  return hasAnsi(text) ? String(text).replace(SEQUENCE, '') : text;
}

/** `text` with its colours, as a DocumentFragment. */
export function ansi(text) {
  const fragment = document.createDocumentFragment();
  const style = { fg: null, bg: null, bold: false, dim: false, italic: false, underline: false };
  let last = 0;
  for (const match of String(text).matchAll(SEQUENCE)) {
    if (match.index > last) fragment.append(span(text.slice(last, match.index), style));
    last = match.index + match[0].length;
    if (match[2] !== 'm') continue; // cursor moves, clears, titles: nothing to draw
    const codes = (match[1] || '0').split(';').map((c) => (c === '' ? 0 : Number(c)));
    for (let i = 0; i < codes.length;) i += apply(style, codes, i);
  }
  if (last < text.length) fragment.append(span(text.slice(last), style));
  return fragment;
}
