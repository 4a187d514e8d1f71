// Small DOM helpers shared by the views. Text always goes in through textContent: nothing
// from the capture is ever parsed as HTML.
'use strict';

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
  return node;
}

// Text with redaction markers ([REDACTED:xxxxxxxx]) shown as such.
function withRedactions(text) {
  const out = [];
  const marker = /\[REDACTED:[0-9a-f]{8}\]/g;
  let last = 0;
  for (const m of String(text).matchAll(marker)) {
    if (m.index > last) out.push(document.createTextNode(text.slice(last, m.index)));
    out.push(el('span', { class: 'redacted', title: 'redacted by phonehome: first 8 hex digits of the value\u2019s SHA-256' }, m[0]));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}

function pre(text) {
  return el('pre', {}, withRedactions(String(text)));
}

function bytes(n) {
  if (n === null || n === undefined) return '';
  if (n < 1024) return n + ' B';
  if (n < 1 << 20) return (n / 1024).toFixed(1) + ' KiB';
  return (n / (1 << 20)).toFixed(1) + ' MiB';
}

function table(headers, rows, numeric) {
  const num = new Set(numeric || []);
  return el('table', {},
    el('thead', {}, el('tr', {}, headers.map((h, i) => el('th', { class: num.has(i) ? 'num' : null }, h)))),
    el('tbody', {}, rows.map(r => el('tr', {}, r.map((c, i) => el('td', { class: num.has(i) ? 'num' : null }, c))))));
}

function kv(pairs) {
  return el('table', { class: 'kv' }, pairs.filter(p => p[1] !== undefined && p[1] !== null && p[1] !== '')
    .map(([k, v]) => el('tr', {}, el('td', {}, k), el('td', {}, v instanceof Node ? v : withRedactions(String(v))))));
}

function note(text) {
  return el('div', { class: 'note' }, text);
}
