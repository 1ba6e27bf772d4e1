// Agent text as markdown, made safe: marked turns it into HTML, highlight.js colours fenced code
// blocks in the few languages loaded below, and DOMPurify keeps only harmless tags and attributes
// before anything reaches the page. Agent text is untrusted (it may quote a web page or a file):
// HTML written in it is shown as the text it is (never parsed, so no handler is even compiled), no
// javascript: link or remote image survives, and links open in a new tab.

import { Marked } from './vendor/marked.esm.js';
import DOMPurify from './vendor/purify.esm.js';
import hljs from './vendor/highlight.core.min.js';
import bash from './vendor/highlight-languages/bash.min.js';
import css from './vendor/highlight-languages/css.min.js';
import diff from './vendor/highlight-languages/diff.min.js';
import go from './vendor/highlight-languages/go.min.js';
import javascript from './vendor/highlight-languages/javascript.min.js';
import json from './vendor/highlight-languages/json.min.js';
import python from './vendor/highlight-languages/python.min.js';
import rust from './vendor/highlight-languages/rust.min.js';
import shell from './vendor/highlight-languages/shell.min.js';
import sql from './vendor/highlight-languages/sql.min.js';
import typescript from './vendor/highlight-languages/typescript.min.js';
import xml from './vendor/highlight-languages/xml.min.js';
import yaml from './vendor/highlight-languages/yaml.min.js';

const LANGUAGES = { bash, css, diff, go, javascript, json, python, rust, shell, sql, typescript, xml, yaml };
for (const [name, grammar] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, grammar);

const ALLOWED_TAGS = ['a', 'p', 'br', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'strong', 'em', 'del', 's', 'code',
  'pre', 'blockquote', 'ul', 'ol', 'li', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'span', 'sup', 'sub', 'kbd'];
const ALLOWED_ATTR = ['href', 'title', 'class', 'start', 'align', 'colspan', 'rowspan'];

const OWN_CLASS = /^(hljs|hljs-[\w-]+|language-[\w-]+|code-block|code-lang)$/;

const purify = DOMPurify(window);
// Only the classes made here (highlight.js's and ours): agent HTML cannot dress up as the page's own.
purify.addHook('uponSanitizeAttribute', (node, data) => {
  if (data.attrName === 'class') data.attrValue = data.attrValue.split(/\s+/).filter((c) => OWN_CLASS.test(c)).join(' ');
});
purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

const EXTENSIONS = {
  sh: 'bash', bash: 'bash', zsh: 'bash', css: 'css', go: 'go', js: 'javascript', mjs: 'javascript',
  cjs: 'javascript', jsx: 'javascript', json: 'json', py: 'python', pyi: 'python', rs: 'rust', sql: 'sql',
  ts: 'typescript', tsx: 'typescript', html: 'xml', htm: 'xml', xml: 'xml', svg: 'xml', yml: 'yaml', yaml: 'yaml',
};

/** The highlight.js language for a file path (by its extension), or null when none is loaded for it. */
export function languageOfPath(path) {
  const match = /\.([\w]+)$/.exec(String(path || ''));
  return (match && EXTENSIONS[match[1].toLowerCase()]) || null;
}

/** One line of code as highlighted HTML (highlight.js escapes the text), or null for an unknown language. */
export function highlightLine(text, language) {
  if (!language || !hljs.getLanguage(language)) return null;
  return hljs.highlight(text, { language, ignoreIllegals: true }).value;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const marked = new Marked({
  gfm: true,
  breaks: true, // agents end lines where they mean it
  renderer: {
    code({ text, lang }) {
      const language = (lang || '').trim().split(/\s+/)[0].toLowerCase();
      const known = language && hljs.getLanguage(language);
      const body = known ? hljs.highlight(text, { language, ignoreIllegals: true }).value : escapeHtml(text);
      const label = language ? `<span class="code-lang">${escapeHtml(language)}</span>` : '';
      return `<pre class="code-block">${label}<code class="hljs${known ? ` language-${language}` : ''}">${body}</code></pre>`;
    },
    // HTML in agent text is shown, not parsed: an agent quoting a page shows the page's source.
    html({ text }) {
      return escapeHtml(text);
    },
    // No image is fetched on the agent's say-so: it becomes a link to where it is.
    image({ href, text }) {
      return `<a href="${escapeHtml(href || '')}">${escapeHtml(text || href || 'image')}</a>`;
    },
  },
});

// Text with none of markdown's marks renders as itself: most lines an agent prints cost no parse.
const PLAIN = /^[\p{L}\p{N} ,.;:'"?()/@$%+=]*$/u;

/** Markdown text as a sanitised DocumentFragment (or a text node, for text with no markdown in it). */
export function markdown(text) {
  const source = String(text ?? '');
  if (PLAIN.test(source)) return document.createTextNode(source);
  return purify.sanitize(marked.parse(source), {
    ALLOWED_TAGS, ALLOWED_ATTR, ALLOW_DATA_ATTR: false, RETURN_DOM_FRAGMENT: true,
  });
}
