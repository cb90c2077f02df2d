// A small, safe markdown renderer: it builds DOM nodes and only ever sets text
// through createTextNode, so model output can never inject HTML or scripts.
// Supported: ``` fenced code, # headings, - / 1. lists, paragraphs, `code`, **bold**, *italic*,
// and [links](https://...) (http/https only).
"use strict";

const INLINE = /(`[^`\n]+`)|(\*\*[^*\n]+\*\*)|(\*[^*\n]+\*)|(\[[^\]\n]+\]\([^)\s]+\))/g;

function appendInline(parent, text) {
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
    const token = m[0];
    let node;
    if (m[1]) { node = document.createElement("code"); node.textContent = token.slice(1, -1); }
    else if (m[2]) { node = document.createElement("strong"); node.textContent = token.slice(2, -2); }
    else if (m[3]) { node = document.createElement("em"); node.textContent = token.slice(1, -1); }
    else {
      const [, label, url] = token.match(/^\[([^\]]+)\]\(([^)\s]+)\)$/);
      if (/^https?:\/\//i.test(url)) {
        node = document.createElement("a");
        node.href = url; node.rel = "noopener noreferrer"; node.target = "_blank"; node.textContent = label;
      } else {
        node = document.createTextNode(token);  // javascript: and other schemes stay plain text
      }
    }
    parent.appendChild(node);
    last = m.index + token.length;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

function renderMarkdown(text) {
  const root = document.createDocumentFragment();
  const lines = text.split("\n");
  let para = [], list = null;
  const flushPara = () => {
    if (para.length) { const p = document.createElement("p"); appendInline(p, para.join("\n")); root.appendChild(p); }
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {
      flushPara(); list = null;
      const code = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) code.push(lines[i]);
      const pre = document.createElement("pre"), c = document.createElement("code");
      c.textContent = code.join("\n"); pre.appendChild(c); root.appendChild(pre);
      continue;
    }
    const heading = line.match(/^(#{1,6})\s+(.*)$/);
    const item = line.match(/^\s*(?:[-*]|\d+\.)\s+(.*)$/);
    if (heading) {
      flushPara(); list = null;
      const h = document.createElement("h" + Math.min(heading[1].length + 2, 6));
      appendInline(h, heading[2]); root.appendChild(h);
    } else if (item) {
      flushPara();
      if (!list) { list = document.createElement(/^\s*\d/.test(line) ? "ol" : "ul"); root.appendChild(list); }
      const li = document.createElement("li"); appendInline(li, item[1]); list.appendChild(li);
    } else if (!line.trim()) {
      flushPara(); list = null;
    } else {
      list = null; para.push(line);
    }
  }
  flushPara();
  return root;
}
