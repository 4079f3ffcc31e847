// The page of `bedrock-chat serve`: a chat over the server's /api.
//
// Text from the model or a user only ever enters the page as text: `textContent`, text nodes,
// and elements this file creates itself. Nothing is parsed as HTML (no innerHTML anywhere), so a
// reply that contains `<script>` or `<img onerror>` is shown, never run. Markdown is rendered by
// building elements from a small subset (paragraphs, headings, lists, quotes, code, emphasis,
// links to http(s) and mailto only).

// The same file runs as a worker that reads a turn's stream of events (see "a turn"): the page's
// policy lets it run only its own scripts, and there is no build step to make a second one.
const onPage = typeof document !== "undefined";
const $ = (id) => (onPage ? document.getElementById(id) : null);
const messagesEl = $("messages");
const input = $("input");
const sendButton = $("send");
const stopButton = $("stop");
const listEl = $("conversations");
const titleEl = $("title");
const usageEl = $("usage");
const searchInput = $("search");
const searchStatus = $("search-status");
const toolsEl = $("conversation-tools");
const renameForm = $("rename-form");
const renameInput = $("rename-input");
const composerStatus = $("composer-status");

const state = {
  current: onPage ? localStorage.getItem("bc_current") : null,
  busy: false,
  controller: null,
  autoScroll: true,
};

// --- the API --------------------------------------------------------------------------------

function headers(extra = {}) {
  const h = { ...extra };
  const token = localStorage.getItem("bc_token");
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

async function api(method, path, body, { accept, signal } = {}) {
  const extra = accept ? { Accept: accept } : {};
  for (let attempt = 0; attempt < 2; attempt++) {
    const init = { method, headers: headers(extra), signal };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(`/api${path}`, init);
    if (response.status === 401 && attempt === 0) {
      const token = window.prompt("This server needs an access token:");
      if (token) {
        localStorage.setItem("bc_token", token.trim());
        continue;
      }
    }
    return response;
  }
  return fetch(`/api${path}`, { method, headers: headers(extra) });
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error) return body.error;
  } catch (_) { /* not JSON */ }
  return { message: `the server answered ${response.status}`, kind: "http" };
}

// --- markdown, as elements --------------------------------------------------------------------
//
// A reply can be long, and prompt injection can make a model write anything, so rendering takes
// time in proportion to the text, whatever the text: no regular expression that can backtrack
// over it, no scan that starts again from every position. Blocks are found in one pass over the
// lines, inline spans in one left-to-right pass over each line (CommonMark's way: code spans
// by the length of their backtick runs, emphasis by a stack of delimiter runs, links by a stack
// of brackets). Nesting is capped (quotes, and emphasis or links in the page), deeper markers
// are shown as the text they are.

function safeHref(url) {
  try {
    const parsed = new URL(url, window.location.href);
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

const MAX_QUOTE_DEPTH = 8;
const MAX_INLINE_DEPTH = 12;
// Longer link targets are left as text (each one is parsed as a URL).
const MAX_HREF = 4096;

// JavaScript's `\s` (and what `trim()` removes).
function isSpace(c) {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a)
    || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff;
}

function isBlank(line) {
  for (let k = 0; k < line.length; k++) if (!isSpace(line.charCodeAt(k))) return false;
  return true;
}

function skipSpaces(line, k) {
  while (k < line.length && isSpace(line.charCodeAt(k))) k++;
  return k;
}

const PUNCTUATION = /[\p{P}\p{S}]/u;

// One character of `s` as CommonMark sees it next to a delimiter run: 0 for a letter or digit,
// 1 for whitespace (and the ends of the text), 2 for punctuation.
function charClass(s, k) {
  if (k < 0 || k >= s.length) return 1;
  const c = s.charCodeAt(k);
  if (isSpace(c)) return 1;
  if (c < 128) {
    return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ? 0 : 2;
  }
  return PUNCTUATION.test(s[k]) ? 2 : 0;
}

// The inline tree: nodes in linked lists, so that wrapping a run of siblings is cheap.
function inlineNode(t, text = "") {
  return { t, text, count: 0, first: null, last: null, prev: null, next: null, parent: null };
}

function appendNode(parent, node) {
  node.parent = parent;
  node.prev = parent.last;
  node.next = null;
  if (parent.last) parent.last.next = node;
  else parent.first = node;
  parent.last = node;
}

function unlinkNode(node) {
  const parent = node.parent;
  if (node.prev) node.prev.next = node.next;
  else if (parent) parent.first = node.next;
  if (node.next) node.next.prev = node.prev;
  else if (parent) parent.last = node.prev;
  node.prev = node.next = node.parent = null;
}

function insertAfter(ref, node) {
  node.parent = ref.parent;
  node.prev = ref;
  node.next = ref.next;
  if (ref.next) ref.next.prev = node;
  else if (ref.parent) ref.parent.last = node;
  ref.next = node;
}

// `safeHref`, after a cheap look at the scheme; `undefined` when the URL parser was not needed.
function linkHref(raw) {
  let k = 0;
  const c0 = raw.charCodeAt(0) | 0x20;
  if (c0 >= 97 && c0 <= 122) {
    k = 1;
    while (k < raw.length && k < 64) {
      const c = raw.charCodeAt(k);
      const letter = (c | 0x20) >= 97 && (c | 0x20) <= 122;
      if (!(letter || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46)) break;
      k++;
    }
    if (raw.charCodeAt(k) === 58) {
      const scheme = raw.slice(0, k).toLowerCase();
      if (scheme !== "http" && scheme !== "https" && scheme !== "mailto") return undefined;
    }
  }
  return safeHref(raw);
}

// The delimiter runs of `*` and `_` between `bottom` (exclusive) and the top of the stack become
// emphasis, as CommonMark's "process emphasis" does. A search for an opener never goes below
// where an earlier search for the same kind of closer failed, so this is linear.
function processEmphasis(st, bottom) {
  const bottomIndex = bottom ? bottom.index : -1;
  const openersBottom = new Array(12).fill(bottomIndex);
  let closer = st.delims;
  if (closer && closer.index <= bottomIndex) closer = null;
  while (closer && closer.prev && closer.prev.index > bottomIndex) closer = closer.prev;
  while (closer) {
    if (!closer.canClose) {
      closer = closer.next;
      continue;
    }
    const key = (closer.cc === 95 ? 6 : 0) + (closer.canOpen ? 3 : 0) + (closer.orig % 3);
    let opener = closer.prev;
    let found = false;
    while (opener && opener.index > openersBottom[key]) {
      const odd = (closer.canOpen || opener.canClose) && closer.orig % 3 !== 0
        && (opener.orig + closer.orig) % 3 === 0;
      if (opener.cc === closer.cc && opener.canOpen && !odd) {
        found = true;
        break;
      }
      opener = opener.prev;
    }
    if (found) {
      const use = closer.node.count >= 2 && opener.node.count >= 2 ? 2 : 1;
      opener.node.count -= use;
      closer.node.count -= use;
      const emph = inlineNode(use === 1 ? "em" : "strong");
      emph.open = emph.close = String.fromCharCode(closer.cc).repeat(use);
      let tmp = opener.node.next;
      while (tmp && tmp !== closer.node) {
        const next = tmp.next;
        unlinkNode(tmp);
        appendNode(emph, tmp);
        tmp = next;
      }
      insertAfter(opener.node, emph);
      // The delimiters in between are text now.
      opener.next = closer;
      closer.prev = opener;
      if (opener.node.count === 0) {
        unlinkNode(opener.node);
        removeDelimiter(st, opener);
      }
      if (closer.node.count === 0) {
        unlinkNode(closer.node);
        const next = closer.next;
        removeDelimiter(st, closer);
        closer = next;
      }
    } else {
      const old = closer;
      closer = closer.next;
      openersBottom[key] = Math.max(bottomIndex, old.prev ? old.prev.index : -1);
      if (!old.canOpen) removeDelimiter(st, old);
    }
  }
  while (st.delims && st.delims.index > bottomIndex) removeDelimiter(st, st.delims);
}

function removeDelimiter(st, d) {
  if (d.prev) d.prev.next = d.next;
  if (d.next) d.next.prev = d.prev;
  else st.delims = d.prev;
  d.prev = d.next = null;
}

// One line of text as a tree of inline nodes.
function parseInline(s) {
  const n = s.length;
  const root = inlineNode("root");
  const st = { delims: null };
  const brackets = [];
  let deadBelow = 0; // the brackets below this index cannot open a link (a link is inside no link)
  let delimIndex = 0;
  let textStart = 0;
  let pos = 0;
  // Backtick runs, by length: the next run of the same length closes a code span.
  let ticks = null;
  // The first `)` or space at or after the last position looked from (link targets end there).
  let stopFrom = -1;
  let stopAt = -1;
  let failedStop = -1;
  const flushText = (end) => {
    if (end > textStart) appendNode(root, inlineNode("text", s.slice(textStart, end)));
  };
  while (pos < n) {
    const c = s.charCodeAt(pos);
    if (c === 96) { // `
      let end = pos + 1;
      while (end < n && s.charCodeAt(end) === 96) end++;
      const length = end - pos;
      if (!ticks) ticks = backtickRuns(s);
      const closing = nextRun(ticks, length, pos);
      if (closing < 0) {
        pos = end;
        continue;
      }
      flushText(pos);
      let content = s.slice(end, closing);
      if (content.length >= 2 && content.charCodeAt(0) === 32 && content.charCodeAt(content.length - 1) === 32
        && !isBlank(content)) {
        content = content.slice(1, -1);
      }
      appendNode(root, inlineNode("code", content));
      pos = textStart = closing + length;
    } else if (c === 42 || c === 95) { // * _
      let end = pos + 1;
      while (end < n && s.charCodeAt(end) === c) end++;
      const before = charClass(s, pos - 1);
      const after = charClass(s, end);
      const left = after !== 1 && (after !== 2 || before !== 0);
      const right = before !== 1 && (before !== 2 || after !== 0);
      let canOpen = left;
      let canClose = right;
      if (c === 95) {
        canOpen = left && (!right || before === 2);
        canClose = right && (!left || after === 2);
      }
      flushText(pos);
      const node = inlineNode("delim", s[pos]);
      node.count = end - pos;
      appendNode(root, node);
      if (canOpen || canClose) {
        const d = { cc: c, orig: end - pos, canOpen, canClose, node, index: delimIndex++, prev: st.delims, next: null };
        if (st.delims) st.delims.next = d;
        st.delims = d;
      }
      pos = textStart = end;
    } else if (c === 91) { // [
      flushText(pos);
      const node = inlineNode("text", "[");
      appendNode(root, node);
      brackets.push({ node, pos, delims: st.delims });
      pos = textStart = pos + 1;
    } else if (c === 93 && brackets.length) { // ]
      const opener = brackets.pop();
      const active = brackets.length >= deadBelow;
      if (deadBelow > brackets.length) deadBelow = brackets.length;
      let linked = false;
      if (active && pos > opener.pos + 1 && s.charCodeAt(pos + 1) === 40) {
        const from = pos + 2;
        if (from > stopAt || stopFrom < 0) {
          let q = from;
          while (q < n) {
            const d = s.charCodeAt(q);
            if (d === 41 || isSpace(d)) break;
            q++;
          }
          stopFrom = from;
          stopAt = q;
        }
        const stop = stopAt;
        if (stop > from && stop < n && s.charCodeAt(stop) === 41 && stop !== failedStop && stop - from <= MAX_HREF) {
          const raw = s.slice(from, stop);
          const href = linkHref(raw);
          if (href === null) failedStop = stop;
          if (href) {
            flushText(pos);
            const link = inlineNode("a");
            link.href = href;
            link.open = "[";
            link.close = `](${raw})`;
            let tmp = opener.node.next;
            while (tmp) {
              const next = tmp.next;
              unlinkNode(tmp);
              appendNode(link, tmp);
              tmp = next;
            }
            insertAfter(opener.node, link);
            unlinkNode(opener.node);
            // Emphasis inside the link text is the link's own.
            const inner = { delims: st.delims };
            processEmphasis(inner, opener.delims);
            st.delims = inner.delims;
            deadBelow = brackets.length;
            pos = textStart = stop + 1;
            linked = true;
          }
        }
      }
      if (!linked) pos++;
    } else {
      pos++;
    }
  }
  flushText(n);
  processEmphasis(st, null);
  return root;
}

function backtickRuns(s) {
  const byLength = new Map();
  let k = s.indexOf("`");
  while (k >= 0) {
    let end = k + 1;
    while (end < s.length && s.charCodeAt(end) === 96) end++;
    const length = end - k;
    let runs = byLength.get(length);
    if (!runs) byLength.set(length, (runs = { starts: [], next: 0 }));
    runs.starts.push(k);
    k = s.indexOf("`", end);
  }
  return byLength;
}

// The start of the first run of `length` backticks after position `after`, or -1. Positions asked
// about only grow along a line, so each list is walked once.
function nextRun(ticks, length, after) {
  const runs = ticks.get(length);
  while (runs.next < runs.starts.length && runs.starts[runs.next] <= after) runs.next++;
  return runs.next < runs.starts.length ? runs.starts[runs.next] : -1;
}

// Appends the inline elements of one line of `text` to `parent`. No recursion: a stack of the
// elements being filled.
function appendInline(parent, text) {
  if (text === "") return;
  const root = parseInline(text);
  const stack = [];
  let node = root.first;
  let el = parent;
  let depth = 0;
  let buffer = "";
  const flush = () => {
    if (buffer) {
      el.appendChild(document.createTextNode(buffer));
      buffer = "";
    }
  };
  for (;;) {
    if (!node) {
      if (!stack.length) break;
      const frame = stack.pop();
      if (frame.close !== null) buffer += frame.close;
      else flush();
      el = frame.el;
      depth = frame.depth;
      node = frame.next;
      continue;
    }
    if (node.t === "text") {
      buffer += node.text;
    } else if (node.t === "delim") {
      if (node.count > 0) buffer += node.text.repeat(node.count);
    } else if (node.t === "code") {
      flush();
      const code = document.createElement("code");
      code.textContent = node.text;
      el.appendChild(code);
    } else if (depth >= MAX_INLINE_DEPTH) {
      // Too deep to be anything but an attack on the page's layout: its markers stay text.
      buffer += node.open;
      stack.push({ el, depth, next: node.next, close: node.close });
      node = node.first;
      continue;
    } else {
      flush();
      let child;
      if (node.t === "a") {
        child = document.createElement("a");
        child.href = node.href;
        child.rel = "noopener noreferrer nofollow";
        child.target = "_blank";
      } else {
        child = document.createElement(node.t);
      }
      el.appendChild(child);
      stack.push({ el, depth, next: node.next, close: null });
      el = child;
      depth++;
      node = node.first;
      continue;
    }
    node = node.next;
  }
  flush();
}

function copyButton(label, getText) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "small";
  button.textContent = label;
  button.setAttribute("aria-label", label);
  button.addEventListener("click", async () => {
    const text = getText();
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1200);
  });
  return button;
}

// The lines of `text` from `from` on (`\r\n`, `\r` and `\n` each end one), with where each starts.
function splitLines(text, from = 0) {
  const lines = [];
  const starts = [];
  const n = text.length;
  let k = from;
  for (;;) {
    starts.push(k);
    let end = k;
    while (end < n) {
      const c = text.charCodeAt(end);
      if (c === 10 || c === 13) break;
      end++;
    }
    lines.push(text.slice(k, end));
    if (end >= n) break;
    k = end + (text.charCodeAt(end) === 13 && text.charCodeAt(end + 1) === 10 ? 2 : 1);
  }
  return { lines, starts };
}

// A fence that opens a code block: ``` or ~~~ (or longer), then an optional language.
function fenceOpen(line) {
  const k = skipSpaces(line, 0);
  const c = line.charCodeAt(k);
  if (c !== 96 && c !== 126) return null;
  let end = k;
  while (end < line.length && line.charCodeAt(end) === c) end++;
  if (end - k < 3) return null;
  // A backtick in the rest makes it inline code (```x```), as in CommonMark.
  if (c === 96 && line.indexOf("`", end) >= 0) return null;
  const start = skipSpaces(line, end);
  let stop = start;
  while (stop < line.length) {
    const d = line.charCodeAt(stop);
    const word = (d >= 48 && d <= 57) || ((d | 0x20) >= 97 && (d | 0x20) <= 122) || d === 95 || d === 43 || d === 45;
    if (!word) break;
    stop++;
  }
  return { c, length: end - k, lang: line.slice(start, stop) };
}

function fenceCloses(line, fence) {
  const start = skipSpaces(line, 0);
  let end = start;
  while (end < line.length && line.charCodeAt(end) === fence.c) end++;
  return end - start >= fence.length && skipSpaces(line, end) === line.length;
}

// `# text` to `###### text`: the level and where the text starts.
function headingOf(line) {
  let k = 0;
  while (k < line.length && line.charCodeAt(k) === 35) k++;
  if (k < 1 || k > 6 || k >= line.length || !isSpace(line.charCodeAt(k))) return null;
  return { level: k, text: line.slice(skipSpaces(line, k)) };
}

// A line of three or more `-`, `*` or `_` (and spaces).
function isRule(line) {
  const start = skipSpaces(line, 0);
  const c = line.charCodeAt(start);
  if (c !== 45 && c !== 42 && c !== 95) return false;
  let count = 0;
  for (let k = start; k < line.length; k++) {
    const d = line.charCodeAt(k);
    if (d === c) count++;
    else if (!isSpace(d)) return false;
  }
  return count >= 3;
}

// `- text`, `* text`, `+ text`, `1. text` or `1) text` (`number` is 1 for a bullet).
function listItemOf(line) {
  const start = skipSpaces(line, 0);
  const c = line.charCodeAt(start);
  let end = start;
  let ordered = false;
  if (c === 45 || c === 42 || c === 43) {
    end = start + 1;
  } else {
    while (end < line.length && line.charCodeAt(end) >= 48 && line.charCodeAt(end) <= 57) end++;
    if (end === start) return null;
    const d = line.charCodeAt(end);
    if (d !== 46 && d !== 41) return null;
    end++;
    ordered = true;
  }
  if (end >= line.length || !isSpace(line.charCodeAt(end))) return null;
  // Up to nine digits, as in CommonMark.
  const number = ordered && end - start <= 10 ? Number(line.slice(start, end - 1)) : 1;
  return { ordered, number, text: line.slice(skipSpaces(line, end)) };
}

// The row under a table's head: cells of three or more dashes, each maybe with colons, in pipes.
function isTableSeparator(line) {
  let row = line.trim();
  if (row.startsWith("|")) row = row.slice(1);
  if (row.endsWith("|")) row = row.slice(0, -1);
  if (row === "") return false;
  for (const cell of row.split("|")) {
    let k = skipSpaces(cell, 0);
    if (cell.charCodeAt(k) === 58) k++;
    let dashes = 0;
    while (cell.charCodeAt(k) === 45) {
      k++;
      dashes++;
    }
    if (cell.charCodeAt(k) === 58) k++;
    if (dashes < 3 || skipSpaces(cell, k) !== cell.length) return false;
  }
  return true;
}

function tableCells(row) {
  let cells = row.trim();
  if (cells.startsWith("|")) cells = cells.slice(1);
  if (cells.endsWith("|")) cells = cells.slice(0, -1);
  return cells.split("|").map((c) => c.trim());
}

function isQuote(line) {
  return line.charCodeAt(skipSpaces(line, 0)) === 62;
}

function unquote(line) {
  let k = skipSpaces(line, 0) + 1;
  if (k < line.length && isSpace(line.charCodeAt(k))) k++;
  return line.slice(k);
}

// Tables longer than this (in rows or characters) are shown as several tables, one under the
// other: the page lays out a table whole each time it grows, so a huge one would block it.
const TABLE_PART_ROWS = 200;
const TABLE_PART_CHARS = 16 * 1024;
// Likewise paragraphs, lists and quotes longer than this (in lines or characters) are several.
const PART_LINES = 256;
const PART_CHARS = 32 * 1024;

function isTableRow(line) {
  return line.includes("|") && !isBlank(line);
}

// Appends the blocks of `lines` to `root` and returns the index of the line it stopped at.
//
// `resume` is null for a whole text (and the text of a quote). Otherwise this renders from line
// `resume.start` on (`resume.inTable`: in the rows of a table) and keeps in `resume.mark` the last
// point where the blocks before are final: the point between two blocks, at a line that is not the
// last (which a stream may still extend), or anywhere if `resume.complete`. Nothing after such a
// point changes the blocks before it. Once the slice `resume.slice` is used up (its time, or the
// characters it may render, with `resume.starts` the lines' offsets), it stops at the next such
// point; `resume.blocks` counts the blocks it added.
//
// Headings are numbered as an outline under the page's h1: the reply's first heading is an h2,
// later ones keep their distance from it (`headings.base` is its Markdown level), and none is
// more than one level below the heading before it (`headings.last`, 1 before the first).
function renderBlocks(lines, root, depth, resume, headings = resume.headings) {
  let i = resume ? resume.start : 0;
  let blocks = 0;
  let paragraph = [];
  let paragraphChars = 0;
  const add = (node) => {
    root.appendChild(node);
    blocks++;
  };
  const flush = () => {
    if (paragraph.length) {
      const p = document.createElement("p");
      paragraph.forEach((line, n) => {
        if (n > 0) p.appendChild(document.createElement("br"));
        appendInline(p, line);
      });
      add(p);
      paragraph = [];
      paragraphChars = 0;
    }
  };
  // Records a resume point here; true when it is time to stop.
  const pause = (inTable) => {
    if (!resume || paragraph.length || !(resume.complete || i < lines.length - 1)) return false;
    resume.mark = i;
    resume.markBlocks = blocks;
    resume.markInTable = inTable;
    resume.markHeading = { ...headings };
    resume.blocks = blocks;
    return blocks > 0 && (performance.now() > resume.slice.ends
      || resume.starts[i] - resume.starts[resume.start] > resume.slice.chars);
  };
  // The rows from line `i` on, in parts; `head` is the header row of the first part. False when
  // it stopped (between two parts) for time.
  const tableRows = (head) => {
    let body = null;
    let scroller = null;
    let rows = 0;
    let chars = 0;
    const part = () => {
      // (Not insertRow and insertCell, which count the rows and cells before each one they add.)
      const table = document.createElement("table");
      if (head) table.appendChild(document.createElement("thead")).appendChild(head);
      head = null;
      body = table.appendChild(document.createElement("tbody"));
      scroller = document.createElement("div");
      scroller.className = "table";
      scroller.appendChild(table);
      rows = chars = 0;
    };
    part();
    while (i < lines.length && isTableRow(lines[i])) {
      if (rows === TABLE_PART_ROWS || chars > TABLE_PART_CHARS) {
        add(scroller);
        if (pause(true)) return false;
        part();
      }
      const row = document.createElement("tr");
      for (const cell of tableCells(lines[i])) appendInline(row.appendChild(document.createElement("td")), cell);
      body.appendChild(row);
      rows++;
      chars += lines[i].length;
      i++;
    }
    add(scroller);
    return true;
  };
  if (resume && resume.inTable && i < lines.length && isTableRow(lines[i]) && !tableRows(null)) {
    return i;
  }
  while (i < lines.length) {
    if (pause(false)) return i;
    const line = lines[i];
    const fence = fenceOpen(line);
    if (fence) {
      flush();
      const start = ++i;
      while (i < lines.length && !fenceCloses(lines[i], fence)) i++;
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (fence.lang) code.dataset.lang = fence.lang;
      code.textContent = lines.slice(start, i).join("\n");
      pre.appendChild(code);
      const copy = copyButton("Copy code", () => code.textContent);
      copy.classList.add("copy-code");
      pre.appendChild(copy);
      add(pre);
      i = Math.min(i + 1, lines.length);
      continue;
    }
    const heading = headingOf(line);
    if (heading) {
      flush();
      if (!headings.base) headings.base = heading.level;
      headings.last = Math.max(2, Math.min(heading.level - headings.base + 2, headings.last + 1, 6));
      const h = document.createElement(`h${headings.last}`);
      appendInline(h, heading.text);
      add(h);
      i++;
      continue;
    }
    if (isRule(line)) {
      flush();
      add(document.createElement("hr"));
      i++;
      continue;
    }
    const first = listItemOf(line);
    if (first) {
      flush();
      const list = document.createElement(first.ordered ? "ol" : "ul");
      if (first.number !== 1) list.start = first.number;
      let item = first;
      let count = 0;
      let chars = 0;
      while (item && item.ordered === first.ordered && count < PART_LINES && chars < PART_CHARS) {
        const li = document.createElement("li");
        appendInline(li, item.text);
        list.appendChild(li);
        count++;
        chars += lines[i].length;
        i++;
        item = i < lines.length && !isRule(lines[i]) ? listItemOf(lines[i]) : null;
      }
      add(list);
      continue;
    }
    // A table: a row of cells, then a separator row of dashes (GitHub's Markdown).
    if (line.includes("|") && i + 1 < lines.length && isTableSeparator(lines[i + 1])) {
      flush();
      const head = document.createElement("tr");
      for (const cell of tableCells(line)) {
        const th = document.createElement("th");
        appendInline(th, cell);
        head.appendChild(th);
      }
      i += 2;
      if (!tableRows(head)) return i;
      continue;
    }
    if (depth < MAX_QUOTE_DEPTH && isQuote(line)) {
      flush();
      const quote = document.createElement("blockquote");
      const inner = [];
      let chars = 0;
      while (i < lines.length && isQuote(lines[i]) && inner.length < PART_LINES && chars < PART_CHARS) {
        chars += lines[i].length;
        inner.push(unquote(lines[i++]));
      }
      renderBlocks(inner, quote, depth + 1, null, headings);
      add(quote);
      continue;
    }
    if (isBlank(line)) {
      flush();
    } else {
      paragraph.push(line);
      paragraphChars += line.length;
      if (paragraph.length >= PART_LINES || paragraphChars >= PART_CHARS) flush();
    }
    i++;
  }
  flush();
  if (resume) resume.blocks = blocks;
  return lines.length;
}

// --- replies rendered a slice at a time -----------------------------------------------------------
//
// A reply's Markdown is rendered into its element in slices of about SLICE_MS of work, one slice a
// frame, so that a long reply (or a conversation of them) never blocks the page for long. Blocks
// that are final stay; while a reply streams in, only the blocks after the last final one are
// rendered again as text arrives, and less often when that takes long.

// The page's layout of new elements takes several times as long as making them, so a slice is
// bounded both in time and in characters of Markdown.
const SLICE_MS = 12;
const SLICE_CHARS = 8 * 1024;
// The page lays out again every child of the element that grows, so the blocks of a long reply are
// kept in groups (<div>s); a group off the screen is not laid out or painted at all (app.css), so
// a frame costs what is on the screen, not the length of the reply.
const GROUP_BLOCKS = 20;
// A group that comes back on the screen is laid out whole, at once: so it holds this much text
// at most (a part of a long table alone is about that).
const GROUP_CHARS = 8 * 1024;
let currentSlice = null;

// The current slice of work: all rendering in one task shares one.
function slice() {
  if (!currentSlice) {
    currentSlice = { ends: performance.now() + SLICE_MS, chars: SLICE_CHARS };
    queueMicrotask(() => { currentSlice = null; });
  }
  return currentSlice;
}

function sliceUsed(s) {
  return performance.now() > s.ends || s.chars <= 0;
}

// Starts rendering `el.raw` into `el` anew; `complete` is false while the text may still grow.
function beginRender(el, complete) {
  el.querySelector(".body").replaceChildren();
  el.rendered = {
    text: "", lines: [], starts: [], at: 0, inTable: false, heading: { last: 1, base: 0 }, provisional: 0, complete, notBefore: 0,
    group: null, groupChars: 0, last: null,
  };
}

// Puts blocks in `body`: `final` ones, then `provisional` ones (rendered again next time). The
// body is its first block, groups of final blocks, its last final block, then the provisional
// blocks; so its first and last children are blocks, as the page's style expects.
function placeBlocks(body, state, final, provisional) {
  if (!body.firstChild && final.length) body.appendChild(final.shift());
  if (final.length) {
    if (state.last) final.unshift(state.last);
    state.last = final.pop();
    for (const block of final) {
      if (!state.group || state.group.childNodes.length >= GROUP_BLOCKS || state.groupChars >= GROUP_CHARS) {
        state.group = body.appendChild(document.createElement("div"));
        state.group.className = "group";
        state.groupChars = 0;
      }
      state.group.appendChild(block);
      state.groupChars += block.textContent.length;
    }
    body.appendChild(state.last);
  }
  for (const block of provisional) body.appendChild(block);
}

// Renders what time allows of `el.raw` (which only grows); true when it has caught up with it.
function renderSome(el) {
  const state = el.rendered;
  const body = el.querySelector(".body");
  const text = el.raw;
  if (state.text !== text) {
    // Split again from the last line (or the one before, whose `\r` may be half of a `\r\n`).
    let k = state.lines.length - 1;
    if (k > 0 && text.charCodeAt(state.starts[k] - 1) === 13) k--;
    const from = k >= 0 ? state.starts[k] : 0;
    state.lines.length = state.starts.length = Math.max(k, 0);
    const split = splitLines(text, from);
    for (let n = 0; n < split.lines.length; n++) {
      state.lines.push(split.lines[n]);
      state.starts.push(split.starts[n]);
    }
    state.text = text;
  }
  for (let k = 0; k < state.provisional; k++) body.lastChild.remove();
  state.provisional = 0;
  const resume = {
    start: state.at, inTable: state.inTable, complete: state.complete, slice: slice(),
    starts: state.starts, mark: state.at, markBlocks: 0, markInTable: state.inTable, blocks: 0,
    headings: { ...state.heading }, markHeading: state.heading,
  };
  const fragment = document.createDocumentFragment();
  const stop = renderBlocks(state.lines, fragment, 0, resume);
  const blocks = Array.from(fragment.childNodes);
  const finished = stop >= state.lines.length;
  const final = finished && !state.complete ? resume.markBlocks : blocks.length;
  placeBlocks(body, state, blocks.slice(0, final), blocks.slice(final));
  const offset = (line) => (line < state.starts.length ? state.starts[line] : text.length);
  resume.slice.chars -= offset(stop) - offset(state.at);
  if (!finished) {
    state.at = stop;
    state.inTable = resume.markInTable;
    state.heading = resume.markHeading;
    return false;
  }
  if (state.complete) {
    el.rendered = null; // done: its lines need not be kept
  } else {
    state.at = resume.mark;
    state.inTable = resume.markInTable;
    state.heading = resume.markHeading;
    state.provisional = blocks.length - final;
  }
  return true;
}

const toRender = new Set();
let renderScheduled = false;
let renderTimer = 0;

function requestRender(el) {
  toRender.add(el);
  if (renderScheduled) return;
  // A reply told to wait is woken by a timer, not looked at every frame until then.
  const wait = el.rendered ? el.rendered.notBefore - performance.now() : 0;
  if (wait > 0) {
    if (!renderTimer) {
      renderTimer = setTimeout(() => {
        renderTimer = 0;
        scheduleRender();
      }, wait);
    }
    return;
  }
  scheduleRender();
}

function scheduleRender() {
  if (renderScheduled) return;
  renderScheduled = true;
  // After the frame, so that each frame lays out one slice.
  requestAnimationFrame(() => setTimeout(renderPending, 0));
}

function renderPending() {
  renderScheduled = false;
  const start = performance.now();
  const current = slice();
  const streaming = [];
  for (const el of toRender) {
    if (!el.isConnected || !el.rendered) {
      toRender.delete(el);
      continue;
    }
    if (sliceUsed(current)) break;
    const state = el.rendered;
    if (state.notBefore > start) continue;
    const began = performance.now();
    if (renderSome(el)) toRender.delete(el);
    if (!state.complete) streaming.push([state, began, performance.now()]);
  }
  scrollToEnd();
  for (const [state, began, ended] of streaming) paceStream(state, began, ended);
  for (const el of toRender) requestRender(el);
}

// New text of a streaming reply: drawn at once, in the task that brought it (it comes at most
// every STREAM_MS), unless other rendering is under way or the last drawing took long.
function renderStreamed(el) {
  const state = el.rendered;
  const start = performance.now();
  if (renderScheduled || renderTimer || state.notBefore > start || sliceUsed(slice())) {
    requestRender(el);
    return;
  }
  if (renderSome(el)) toRender.delete(el);
  else requestRender(el);
  scrollToEnd();
  paceStream(state, start, performance.now());
}

// A streaming reply is drawn again only after ten times what drawing it cost, its rendering and
// the frame that showed it: drawing a stream takes at most about a tenth of the page's time, on
// a slow phone (where it costs several times as much, and is drawn less often) as on a laptop.
function paceStream(state, start, end) {
  state.notBefore = start + Math.min(10 * (end - start), 2000);
  requestAnimationFrame(() => {
    const frame = performance.now();
    // The frame's style, layout and paint come between this and the timer.
    setTimeout(() => {
      const cost = end - start + performance.now() - frame;
      if (!state.complete) state.notBefore = Math.max(state.notBefore, start + Math.min(10 * cost, 2000));
    }, 0);
  });
}

// --- the conversation on screen ------------------------------------------------------------------

function scrollToEnd() {
  if (state.autoScroll) messagesEl.scrollTop = messagesEl.scrollHeight;
}

function bubble(role, text, files = []) {
  const el = document.createElement("div");
  el.className = "message";
  el.dataset.role = role;
  if (files.length) el.appendChild(fileList(files));
  const body = document.createElement("div");
  body.className = "body";
  el.appendChild(body);
  el.raw = text;
  setText(el, text);
  const actions = document.createElement("div");
  actions.className = "actions";
  if (role !== "error") actions.appendChild(copyButton("Copy", () => el.raw));
  el.appendChild(actions);
  messagesEl.appendChild(el);
  scrollToEnd();
  return el;
}

// The operator's tools the model called in a reply: one collapsed entry each, its arguments and
// result inside. Everything from a tool or the model is put in as text, never as HTML.
function toolList(el) {
  let list = el.querySelector(".tool-calls");
  if (!list) {
    list = document.createElement("ul");
    list.className = "tool-calls";
    list.setAttribute("aria-label", "Tools used");
    el.insertBefore(list, el.querySelector(".body"));
  }
  return list;
}

function addToolCall(el, call) {
  const item = document.createElement("li");
  item.dataset.id = call.id || "";
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = `⚙ ${call.name}`;
  const status = document.createElement("span");
  status.className = "status";
  status.textContent = " · running";
  summary.appendChild(status);
  const input = document.createElement("pre");
  input.textContent = JSON.stringify(call.input, null, 2);
  const result = document.createElement("pre");
  result.className = "result";
  details.append(summary, input, result);
  item.appendChild(details);
  toolList(el).appendChild(item);
  if (call.result != null) finishToolCall(item, call.ok, call.result);
  return item;
}

// The sources a reply cites, as footnotes under it: number, title, where it lives (a link only
// for an https address, which the server says; an s3:// URI or anything else is text), and the
// words the reply relies on. Everything is set as text: a source's title is not the page's HTML.
function sourceList(el) {
  let list = el.querySelector(".sources");
  if (!list) {
    const wrap = document.createElement("section");
    wrap.className = "sources-wrap";
    wrap.setAttribute("aria-label", "Sources");
    const heading = document.createElement("p");
    heading.className = "sources-heading";
    heading.textContent = "Sources";
    list = document.createElement("ol");
    list.className = "sources";
    wrap.append(heading, list);
    el.appendChild(wrap);
  }
  return list;
}

function setSource(el, source) {
  const list = sourceList(el);
  let item = [...list.children].find((li) => li.value === source.number);
  if (!item) {
    item = document.createElement("li");
    item.value = source.number;
    const after = [...list.children].find((li) => li.value > source.number);
    list.insertBefore(item, after || null);
  }
  item.replaceChildren();
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = source.title || "Untitled source";
  item.appendChild(title);
  if (source.location) {
    item.append(" — ");
    if (source.link) {
      const a = document.createElement("a");
      a.href = source.link;
      a.target = "_blank";
      a.rel = "noopener noreferrer nofollow";
      a.textContent = source.location;
      item.appendChild(a);
    } else {
      const where = document.createElement("code");
      where.textContent = source.location;
      item.appendChild(where);
    }
  }
  const quote = (source.quotes || [])[0];
  if (quote) {
    const q = document.createElement("q");
    q.textContent = quote;
    item.appendChild(q);
  }
}

function setSources(el, sources) {
  if (!sources || sources.length === 0) return;
  sourceList(el).replaceChildren();
  for (const source of sources) setSource(el, source);
}

function finishToolCall(item, ok, text) {
  item.querySelector(".status").textContent = ok ? " · done" : " · failed";
  item.classList.toggle("failed", !ok);
  item.querySelector(".result").textContent = text;
}

function setText(el, text) {
  el.raw = text;
  const body = el.querySelector(".body");
  if (el.dataset.role === "assistant") {
    beginRender(el, true);
    // Many replies shown at once (a conversation opened) share the slice; the rest comes later.
    if (sliceUsed(slice()) || !renderSome(el)) requestRender(el);
  } else {
    body.textContent = text;
  }
}

function notice(text) {
  const el = document.createElement("div");
  el.className = "notice";
  el.textContent = `· ${text}`;
  messagesEl.appendChild(el);
  scrollToEnd();
}

function errorBubble(error, retry) {
  const el = bubble("error", `⚠ ${error.message}`);
  const actions = el.querySelector(".actions");
  const button = document.createElement("button");
  button.type = "button";
  button.className = "small";
  button.textContent = "Retry";
  button.addEventListener("click", () => {
    el.remove();
    retry();
  });
  actions.appendChild(button);
  return el;
}

// Regenerate on the last reply, Edit on the last message of the visitor's.
function markLastReply() {
  document.querySelectorAll("button.regenerate, button.edit").forEach((b) => b.remove());
  if (state.busy) return;
  const replies = messagesEl.querySelectorAll('.message[data-role="assistant"]');
  const last = replies[replies.length - 1];
  if (last) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small regenerate";
    button.textContent = "Regenerate";
    button.addEventListener("click", () => regenerate());
    last.querySelector(".actions").appendChild(button);
  }
  const mine = messagesEl.querySelectorAll('.message[data-role="user"]');
  const lastMine = mine[mine.length - 1];
  if (lastMine && state.current) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "small edit";
    button.textContent = "✎ Edit";
    button.setAttribute("aria-label", "Edit and send again");
    button.addEventListener("click", () => startEdit(lastMine));
    lastMine.querySelector(".actions").appendChild(button);
  }
}

// The last message of the visitor's, in a box to change it; sending it replaces the last
// exchange (as Regenerate replaces the last reply). Its files stay with it.
function startEdit(el) {
  if (state.busy || el.querySelector("form.edit")) return;
  const body = el.querySelector(".body");
  const actions = el.querySelector(".actions");
  const form = document.createElement("form");
  form.className = "edit";
  const label = document.createElement("label");
  label.className = "visually-hidden";
  label.textContent = "Your message, edited";
  const box = document.createElement("textarea");
  box.id = "edit-input";
  label.htmlFor = box.id;
  box.value = el.raw;
  box.rows = Math.min(12, Math.max(2, el.raw.split("\n").length));
  const send = document.createElement("button");
  send.type = "submit";
  send.className = "small primary";
  send.textContent = "Send";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "small";
  cancel.textContent = "Cancel";
  const buttons = document.createElement("div");
  buttons.className = "actions";
  buttons.append(send, cancel);
  form.append(label, box, buttons);
  const close = () => {
    form.remove();
    body.hidden = false;
    actions.hidden = false;
  };
  cancel.addEventListener("click", () => {
    close();
    el.querySelector("button.edit")?.focus();
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      cancel.click();
    } else if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = box.value;
    if (text.trim() === "" || state.busy) return;
    close();
    editLast(text);
  });
  body.hidden = true;
  actions.hidden = true;
  el.insertBefore(form, actions);
  box.focus();
  box.setSelectionRange(box.value.length, box.value.length);
}

// --- attached files, as the page shows them ------------------------------------------------------

const FILE_KINDS = {
  png: "image", jpeg: "image", jpg: "image", gif: "image", webp: "image",
  pdf: "document", csv: "document", doc: "document", docx: "document", xls: "document",
  xlsx: "document", html: "document", htm: "document", txt: "document", md: "document",
};

function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

// An <img> of `url`: the server's own URL, which needs the access token when there is one (an
// <img> cannot send it), or a data: URL. The page's policy allows no blob: images.
function image(url, alt) {
  const img = document.createElement("img");
  img.alt = alt;
  img.loading = "lazy";
  img.decoding = "async";
  const token = localStorage.getItem("bc_token");
  if (!token || url.startsWith("data:")) {
    img.src = url;
  } else {
    fetch(url, { headers: headers() })
      .then((r) => (r.ok ? r.blob() : null))
      .then((blob) => {
        if (!blob) return;
        const reader = new FileReader();
        reader.onload = () => { img.src = reader.result; };
        reader.readAsDataURL(blob);
      })
      .catch(() => {});
  }
  return img;
}

// Saves what `url` answers as a file, with the access token when there is one.
async function download(url, name) {
  const response = await fetch(url, { headers: headers() });
  if (!response.ok) {
    notice(`Could not download ${name}: ${(await errorOf(response)).message}`);
    return;
  }
  const blob = await response.blob();
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  // The download has started from it: the object URL is not needed any more.
  setTimeout(() => URL.revokeObjectURL(link.href), 0);
}

// Links that download with the access token when there is one (a plain link cannot send it).
function downloadLink(link, name) {
  link.addEventListener("click", (event) => {
    if (!localStorage.getItem("bc_token")) return;
    event.preventDefault();
    download(link.href, name);
  });
}

// A message's files: thumbnails of images, chips of documents (names are text, never HTML).
// `files` are the server's views (`url`) or files about to be sent (`preview`, a data: URL).
function fileList(files) {
  const list = document.createElement("ul");
  list.className = "files";
  list.setAttribute("aria-label", "Attached files");
  for (const file of files) {
    const li = document.createElement("li");
    const description = `${file.name} (${(file.format || "").toUpperCase()}, ${formatBytes(file.bytes)})`;
    if (file.kind === "image") {
      const alt = file.name === "image" ? `Attached image, ${formatBytes(file.bytes)}` : description;
      const img = image(file.url || file.preview, alt);
      if (file.url) {
        const link = document.createElement("a");
        link.href = file.url;
        link.target = "_blank";
        link.rel = "noopener";
        link.appendChild(img);
        li.appendChild(link);
      } else {
        li.appendChild(img);
      }
      li.className = "thumb";
    } else {
      li.className = "chip";
      const label = document.createElement(file.url ? "a" : "span");
      label.textContent = description;
      if (file.url) {
        // The server keeps a document's name without its extension.
        const saved = file.name.includes(".") ? file.name : `${file.name}.${file.format}`;
        label.href = file.url;
        label.download = saved;
        downloadLink(label, saved);
      }
      li.appendChild(label);
    }
    list.appendChild(li);
  }
  return list;
}

function formatUsage(usage, cost) {
  if (!usage) return "";
  const tokens = (usage.inputTokens || 0) + (usage.outputTokens || 0);
  if (tokens === 0) return "";
  const dollars = cost == null ? "no price" : (cost < 1 ? `$${cost.toFixed(4)}` : `$${cost.toFixed(2)}`);
  return `${dollars} · ${tokens.toLocaleString()} tokens`;
}

function showConversation(conversation) {
  messagesEl.replaceChildren();
  cancelRename();
  titleEl.textContent = conversation ? conversation.title : "New chat";
  usageEl.textContent = conversation ? formatUsage(conversation.usage, conversation.cost_usd) : "";
  showModel(conversation ? conversation.model : null);
  toolsEl.hidden = !conversation;
  if (conversation) {
    const base = `/api/conversations/${encodeURIComponent(conversation.id)}/export?format=`;
    $("export-markdown").href = `${base}markdown`;
    $("export-json").href = `${base}json`;
    for (const m of conversation.messages) {
      const el = bubble(m.role, m.text, m.attachments || []);
      for (const call of m.tool_calls || []) addToolCall(el, call);
      setSources(el, m.sources);
    }
  }
  state.autoScroll = true;
  scrollToEnd();
  markLastReply();
}

// --- the list of conversations --------------------------------------------------------------

let listRequests = 0;

// Shows this visitor's conversations (those that have every word of the search box, when it has
// any) and returns them.
async function refreshList() {
  const query = searchInput.value.trim();
  const request = ++listRequests;
  const response = await api("GET", query ? `/conversations?q=${encodeURIComponent(query)}` : "/conversations");
  if (request !== listRequests) return null; // a newer one is on its way
  if (!response.ok) {
    if (query) searchStatus.textContent = (await errorOf(response)).message;
    return null;
  }
  const { conversations } = await response.json();
  if (request !== listRequests) return null;
  listEl.replaceChildren();
  searchStatus.textContent = !query ? ""
    : conversations.length === 0 ? "No conversation has all of these words."
      : `${conversations.length} ${conversations.length === 1 ? "conversation has" : "conversations have"} all of these words.`;
  for (const c of conversations) {
    const li = document.createElement("li");
    if (c.id === state.current) li.className = "current";
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = c.title;
    open.appendChild(title);
    if (c.snippet) {
      const snippet = document.createElement("span");
      snippet.className = "snippet";
      snippet.textContent = c.snippet;
      open.appendChild(snippet);
    }
    open.title = c.title;
    open.addEventListener("click", () => openConversation(c.id));
    const del = document.createElement("button");
    del.type = "button";
    del.className = "delete";
    del.textContent = "✕";
    del.setAttribute("aria-label", `Delete ${c.title}`);
    del.addEventListener("click", () => deleteConversation(c.id));
    li.append(open, del);
    listEl.appendChild(li);
  }
  return conversations;
}

// The header's title, in a box to change it: Enter saves (an empty title gives the conversation
// its automatic one again), Escape leaves it as it was.
function startRename() {
  if (!state.current) return;
  renameInput.value = titleEl.textContent;
  // Still the page's heading for assistive technology, only not shown.
  titleEl.classList.add("visually-hidden");
  toolsEl.hidden = true;
  renameForm.hidden = false;
  renameInput.focus();
  renameInput.select();
}

function cancelRename() {
  renameForm.hidden = true;
  titleEl.classList.remove("visually-hidden");
  toolsEl.hidden = !state.current;
}

async function rename(title) {
  const id = state.current;
  if (!id) return;
  const response = await api("PATCH", `/conversations/${encodeURIComponent(id)}`, { title: title.trim() });
  if (!response.ok) {
    notice(`Could not rename it: ${(await errorOf(response)).message}`);
    return;
  }
  const view = await response.json();
  if (state.current === id) titleEl.textContent = view.title;
  cancelRename();
  $("rename").focus();
  await refreshList();
}

function setCurrent(id) {
  state.current = id;
  if (id) localStorage.setItem("bc_current", id);
  else localStorage.removeItem("bc_current");
}

async function openConversation(id) {
  if (state.busy) return;
  setMenu(false);
  const response = await api("GET", `/conversations/${encodeURIComponent(id)}`);
  if (!response.ok) {
    setCurrent(null);
    showConversation(null);
    await refreshList();
    return;
  }
  setCurrent(id);
  showConversation(await response.json());
  await refreshList();
  input.focus();
}

async function deleteConversation(id) {
  if (state.busy) return;
  await api("DELETE", `/conversations/${encodeURIComponent(id)}`);
  if (id === state.current) {
    setCurrent(null);
    showConversation(null);
  }
  await refreshList();
}

function newChat() {
  if (state.busy) return;
  setMenu(false);
  setCurrent(null);
  showConversation(null);
  refreshList();
  input.focus();
}

// --- a turn -------------------------------------------------------------------------------------

function setBusy(busy) {
  state.busy = busy;
  sendButton.hidden = busy;
  stopButton.hidden = !busy;
  markLastReply();
}

async function* sseEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { name, data: JSON.parse(data.join("\n")) };
    }
  }
}

// A model sends a reply in many small pieces (a 30 KB reply in thousands), and each piece that
// reaches the page's thread costs it a task, whatever is done with the piece; each time the reply
// on the screen changes costs it a frame of style, layout and paint. So a worker reads the stream
// and hands the page the reply's text at most every STREAM_MS (a first piece at once), and the
// page draws the reply at most that often. Where no worker can be started, the page reads the
// stream itself, paced the same way.
const STREAM_MS = 200;

// Calls `emit` with the events of an SSE response, its `delta`s joined so that at most one comes
// every STREAM_MS.
async function pump(response, emit) {
  let text = "";
  let timer = 0;
  let last = -Infinity;
  const flush = () => {
    clearTimeout(timer);
    timer = 0;
    if (!text) return;
    emit({ name: "delta", data: { text } });
    text = "";
    last = performance.now();
  };
  for await (const event of sseEvents(response)) {
    if (event.name === "delta") {
      text += event.data.text;
      const wait = last + STREAM_MS - performance.now();
      if (wait <= 0) flush();
      else if (!timer) timer = setTimeout(flush, wait);
    } else {
      flush();
      emit(event);
    }
  }
  flush();
}

// Events handed from one side to the other, read with `for await`.
function channel() {
  const items = [];
  let head = 0;
  let wake = null;
  let done = false;
  let failure = null;
  const notify = () => {
    if (wake) wake();
    wake = null;
  };
  return {
    push(item) {
      items.push(item);
      notify();
    },
    end() {
      done = true;
      notify();
    },
    fail(error) {
      if (!done) failure = error;
      done = true;
      notify();
    },
    async* [Symbol.asyncIterator]() {
      for (;;) {
        if (head < items.length) {
          const item = items[head];
          items[head++] = undefined;
          yield item;
        } else if (failure) {
          throw failure;
        } else if (done) {
          return;
        } else {
          await new Promise((resolve) => { wake = resolve; });
        }
      }
    },
  };
}

// The worker side: one turn at a time, as the page sends them.
function startStreamReader() {
  let controller = null;
  self.onmessage = async ({ data }) => {
    if (data.type === "abort") {
      if (controller && data.id === controller.id) controller.abort();
      return;
    }
    const { id } = data;
    controller = new AbortController();
    controller.id = id;
    const post = (message) => self.postMessage({ id, ...message });
    try {
      const response = await fetch(data.url, {
        method: "POST", headers: data.headers, body: data.body, signal: controller.signal,
      });
      if (!response.ok) {
        post({ type: "refused", status: response.status, error: await errorOf(response) });
        return;
      }
      post({ type: "open" });
      await pump(response, (event) => post({ type: "event", event }));
      post({ type: "end" });
    } catch (error) {
      post({ type: "failed", message: error && error.message ? error.message : String(error) });
    }
  };
}

let streamReader = null; // the worker, once started; false when none can be
let streamIds = 0;

function reader() {
  if (streamReader === null) {
    try {
      streamReader = new Worker("/assets/app.js", { type: "module" });
      streamReader.addEventListener("error", () => { streamReader = false; });
    } catch (_) {
      streamReader = false;
    }
  }
  return streamReader || null;
}

// Sends a turn's request; its answer is `{events}` once the server has accepted it, or
// `{status, error}` when it refused.
async function openTurn(url, init, signal) {
  const worker = reader();
  if (!worker) {
    const response = await fetch(url, { ...init, signal });
    if (!response.ok) return { status: response.status, error: await errorOf(response) };
    const events = channel();
    pump(response, (event) => events.push(event)).then(() => events.end(), (e) => events.fail(e));
    return { events };
  }
  const id = ++streamIds;
  const events = channel();
  return new Promise((resolve, reject) => {
    const finish = () => {
      worker.removeEventListener("message", onMessage);
      worker.removeEventListener("error", onError);
      signal.removeEventListener("abort", onAbort);
    };
    const onMessage = ({ data }) => {
      if (data.id !== id) return;
      if (data.type === "open") {
        resolve({ events });
      } else if (data.type === "refused") {
        finish();
        resolve({ status: data.status, error: data.error });
      } else if (data.type === "event") {
        events.push(data.event);
      } else {
        finish();
        const error = data.type === "failed" ? new Error(data.message) : null;
        reject(error);
        if (error) events.fail(error);
        else events.end();
      }
    };
    // The worker could not run (no module workers here): this turn and the next are read here.
    const onError = () => {
      finish();
      openTurn(url, init, signal).then(resolve, reject);
    };
    const onAbort = () => {
      finish();
      worker.postMessage({ type: "abort", id });
      const error = new DOMException("The turn was stopped.", "AbortError");
      reject(error);
      events.fail(error);
    };
    worker.addEventListener("message", onMessage);
    worker.addEventListener("error", onError);
    signal.addEventListener("abort", onAbort);
    worker.postMessage({ type: "turn", id, url, headers: init.headers, body: init.body });
  });
}

// The events of a turn's answer, read as they come; throws the server's error if it refused.
async function streamTurn(path, body, signal) {
  for (let attempt = 0; ; attempt++) {
    const init = {
      method: "POST",
      headers: headers({ Accept: "text/event-stream", "Content-Type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    };
    const { events, status, error } = await openTurn(`/api${path}`, init, signal);
    if (events) return events;
    if (status === 401 && attempt === 0) {
      const token = window.prompt("This server needs an access token:");
      if (token) {
        localStorage.setItem("bc_token", token.trim());
        continue;
      }
    }
    throw error;
  }
}

// Runs one turn: `path` is `messages` (with `text` and maybe `files`), `edit` (with `text`) or
// `retry`. The conversation on the server changes only if the reply completes, so on any failure
// or Stop the screen is reloaded from it.
async function turn(path, text, files = []) {
  setBusy(true);
  const controller = new AbortController();
  state.controller = controller;
  state.autoScroll = true;
  let reply = null;
  let failed = null;
  let stopped = false;
  let createdHere = false;
  const retry = () => (path === "retry" ? regenerate() : path === "edit" ? editLast(text) : send(text, files));
  try {
    if (!state.current) {
      const created = await api("POST", "/conversations");
      if (!created.ok) throw await errorOf(created);
      setCurrent((await created.json()).id);
      createdHere = true;
    }
    if (path === "messages") bubble("user", text, files);
    reply = bubble("assistant", "");
    reply.classList.add("thinking");
    const body = path === "retry" ? undefined : { text };
    if (path === "messages" && !$("model-row").hidden && modelSelect.value) body.model = modelSelect.value;
    if (files.length) body.attachments = files.map((f) => ({ name: f.name, data: f.data }));
    const events = await streamTurn(
      `/conversations/${encodeURIComponent(state.current)}/${path}`,
      body,
      controller.signal,
    );
    // The reply is shown as it grows (see requestRender).
    beginRender(reply, false);
    for await (const event of events) {
      if (event.name === "delta") {
        reply.classList.remove("thinking");
        reply.raw += event.data.text;
        renderStreamed(reply);
      } else if (event.name === "notice") {
        notice(event.data.message);
      } else if (event.name === "citation") {
        setSource(reply, event.data);
      } else if (event.name === "tool_call") {
        addToolCall(reply, event.data);
        scrollToEnd();
      } else if (event.name === "tool_result") {
        const item = [...reply.querySelectorAll(".tool-calls li")].find((li) => li.dataset.id === event.data.id);
        if (item) finishToolCall(item, event.data.ok, event.data.text);
      } else if (event.name === "done") {
        reply.rendered.complete = true;
        reply.rendered.notBefore = 0;
        if (renderSome(reply)) toRender.delete(reply);
        else requestRender(reply);
        scrollToEnd();
        usageEl.textContent = formatUsage(event.data.conversation_usage, event.data.conversation_cost_usd);
        setSources(reply, event.data.sources);
        if (event.data.cached) notice("answered from the cache of frequently asked questions, at no cost; Regenerate asks the model");
      } else if (event.name === "error") {
        throw event.data;
      }
    }
  } catch (error) {
    if (controller.signal.aborted) stopped = true;
    else failed = error && error.message ? error : { message: String(error) };
  } finally {
    state.controller = null;
  }
  if (stopped || failed) {
    if (createdHere && state.current) {
      // Its first message did not go through: the conversation is empty, so it goes rather
      // than stay in the list as an empty "New chat"; Retry (or sending again) makes another.
      const id = state.current;
      setCurrent(null);
      await api("DELETE", `/conversations/${encodeURIComponent(id)}`);
      showConversation(null);
    } else {
      // The server kept the conversation as it was: show exactly that.
      const response = state.current
        ? await api("GET", `/conversations/${encodeURIComponent(state.current)}`)
        : null;
      if (response && response.ok) showConversation(await response.json());
      else if (reply) reply.remove();
    }
    if (stopped) {
      if (path === "messages" && !input.value) input.value = text;
      if (path === "messages" && pending.length === 0 && files.length) {
        pending.push(...files);
        showPending();
      }
      notice("Stopped. The conversation is as it was before that message.");
    } else {
      const mine = path === "messages" ? bubble("user", text, files) : null;
      errorBubble(failed, () => {
        if (mine) mine.remove();
        retry();
      });
    }
  }
  setBusy(false);
  toolsEl.hidden = !state.current;
  if (state.current) {
    const base = `/api/conversations/${encodeURIComponent(state.current)}/export?format=`;
    $("export-markdown").href = `${base}markdown`;
    $("export-json").href = `${base}json`;
  }
  // The first message names the conversation: the header follows at once.
  const conversations = (await refreshList()) || [];
  const here = conversations.find((c) => c.id === state.current);
  if (here) titleEl.textContent = here.title;
  else if (state.current && searchInput.value.trim()) await showTitle();
  return !stopped && !failed;
}

// The header's title, from the server (when the list, being searched, may not have it).
async function showTitle() {
  const response = await api("GET", `/conversations/${encodeURIComponent(state.current)}`);
  if (response.ok) titleEl.textContent = (await response.json()).title;
}

function send(text, files = []) {
  return turn("messages", text, files);
}

// Replaces the last exchange: the visitor's last message, edited, and a new reply to it.
function editLast(text) {
  if (state.busy || !state.current) return;
  const mine = messagesEl.querySelectorAll('.message[data-role="user"]');
  const last = mine[mine.length - 1];
  if (!last) return;
  while (last.nextSibling) last.nextSibling.remove();
  setText(last, text);
  return turn("edit", text);
}

function regenerate() {
  if (state.busy || !state.current) return;
  const replies = messagesEl.querySelectorAll('.message[data-role="assistant"]');
  const last = replies[replies.length - 1];
  if (last) last.remove();
  return turn("retry");
}

// --- the composer ---------------------------------------------------------------------------------

// Files to send with the next message: `{name, kind, format, bytes, data (base64), preview}`.
const pending = [];
// What a message may carry (GET /api/limits); Bedrock's limits until the server has said.
const limits = {
  body_bytes: 8 * 1024 * 1024, image_bytes: 3_750_000, document_bytes: 4_500_000,
  images_per_message: 20, documents_per_message: 5,
};
const FORMATS_TEXT = "PNG, JPEG, GIF and WebP images, and PDF, CSV, DOC, DOCX, XLS, XLSX, HTML, TXT and MD documents";
const MIME_FORMATS = {
  "image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp",
  "application/pdf": "pdf", "text/csv": "csv", "text/plain": "txt", "text/markdown": "md", "text/html": "html",
  "application/msword": "doc", "application/vnd.ms-excel": "xls",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
};

function say(message) {
  composerStatus.textContent = message;
}

// The format of a file, from its name (or, for a pasted image with none, its type); null when
// Bedrock takes no such file.
function formatOf(file) {
  const dot = file.name.lastIndexOf(".");
  const extension = dot > 0 ? file.name.slice(dot + 1).toLowerCase() : "";
  if (FILE_KINDS[extension]) return extension === "jpg" ? "jpeg" : extension === "htm" ? "html" : extension;
  return dot > 0 ? null : MIME_FORMATS[file.type] || null;
}

// The size of the message's JSON body with these files, as the server counts it.
function bodyBytes(text, files) {
  let bytes = new TextEncoder().encode(JSON.stringify(text)).length + 64;
  for (const f of files) bytes += f.data.length + new TextEncoder().encode(JSON.stringify(f.name)).length + 32;
  return bytes;
}

function readAsDataURL(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// Checks files against what Bedrock and the server take, and adds those that pass to the next
// message; a refused file is named, with why, before anything is sent.
async function addFiles(list) {
  const refused = [];
  for (const file of list) {
    const format = formatOf(file);
    const name = file.name || `pasted.${format}`;
    if (!format) {
      refused.push(`${name} is not a file Claude can read: send ${FORMATS_TEXT}.`);
      continue;
    }
    const kind = FILE_KINDS[format];
    const most = kind === "image" ? limits.image_bytes : limits.document_bytes;
    if (file.size > most) {
      refused.push(`${name} is ${formatBytes(file.size)}; ${kind === "image" ? "an image" : "a document"} may be at most ${formatBytes(most)}.`);
      continue;
    }
    if (file.size === 0) {
      refused.push(`${name} is empty.`);
      continue;
    }
    const count = pending.filter((f) => f.kind === kind).length;
    const allowed = kind === "image" ? limits.images_per_message : limits.documents_per_message;
    if (count >= allowed) {
      refused.push(`${name} is one ${kind} too many: a message may carry at most ${allowed} ${kind}s.`);
      continue;
    }
    let url;
    try {
      url = await readAsDataURL(file);
    } catch (_) {
      refused.push(`${name} could not be read.`);
      continue;
    }
    const entry = {
      name: formatOf({ name, type: "" }) ? name : `${name}.${format}`,
      kind, format, bytes: file.size, data: url.slice(url.indexOf(",") + 1),
      preview: kind === "image" ? `data:image/${format};base64,${url.slice(url.indexOf(",") + 1)}` : null,
    };
    if (bodyBytes(input.value, [...pending, entry]) > limits.body_bytes) {
      refused.push(`${name} would make the message larger than the server takes (${formatBytes(limits.body_bytes)} in all).`);
      continue;
    }
    pending.push(entry);
  }
  say(refused.join(" "));
  showPending();
}

// The files to send, as removable chips in the composer.
function showPending() {
  const list = $("attachments");
  list.replaceChildren();
  pending.forEach((file, index) => {
    const li = document.createElement("li");
    if (file.preview) {
      const img = document.createElement("img");
      img.src = file.preview;
      img.alt = "";
      li.appendChild(img);
    }
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = file.name;
    name.title = file.name;
    const size = document.createElement("span");
    size.className = "size";
    size.textContent = `${file.format.toUpperCase()}, ${formatBytes(file.bytes)}`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "✕";
    remove.setAttribute("aria-label", `Remove ${file.name}`);
    remove.addEventListener("click", () => {
      pending.splice(index, 1);
      say("");
      showPending();
      const buttons = list.querySelectorAll("button");
      (buttons[Math.min(index, buttons.length - 1)] || input).focus();
    });
    li.append(name, size, remove);
    list.appendChild(li);
  });
}

// The models a visitor may pick (GET /api/models); the picker shows only when there are several.
const modelSelect = $("model");
let defaultModel = null;

async function loadModels() {
  const response = await api("GET", "/models");
  if (!response.ok) return;
  const { models, default: fallback } = await response.json();
  defaultModel = fallback;
  modelSelect.replaceChildren();
  for (const model of models) {
    const option = document.createElement("option");
    option.value = model.id;
    option.textContent = model.price ? `${model.label} · ${model.price}` : model.label;
    option.title = model.id;
    modelSelect.appendChild(option);
  }
  $("model-row").hidden = models.length < 2;
  showModel(state.shownModel);
}

// Shows the conversation's model in the picker (the default for a new chat).
function showModel(id) {
  state.shownModel = id;
  const wanted = id || defaultModel;
  if (wanted && [...modelSelect.options].some((o) => o.value === wanted)) modelSelect.value = wanted;
}

async function loadLimits() {
  const response = await api("GET", "/limits");
  if (response.ok) Object.assign(limits, await response.json());
}

function grow() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight + 2, 192)}px`;
  input.style.overflowY = input.scrollHeight + 2 > 192 ? "auto" : "hidden";
}

// On a phone the list is a drawer: the menu button, Escape, a tap outside it, or choosing a
// conversation closes it, and aria-expanded always says which.
function setMenu(open) {
  // The drawer's content starts below the menu button, which stays above it to close it.
  if (open) $("sidebar").style.paddingTop = `${document.querySelector("header").getBoundingClientRect().bottom + 8}px`;
  document.body.classList.toggle("menu-open", open);
  $("menu").setAttribute("aria-expanded", String(open));
}
// --- start ------------------------------------------------------------------------------------------

function startPage() {
  messagesEl.addEventListener("scroll", () => {
    const fromBottom = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight;
    state.autoScroll = fromBottom < 48;
  });
  input.addEventListener("input", grow);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    if (state.busy || (text.trim() === "" && pending.length === 0)) return;
    if (text.trim() === "" && pending.some((f) => f.kind === "document")) {
      say("Say what to do with the document: a document is sent with a message.");
      input.focus();
      return;
    }
    if (bodyBytes(text, pending) > limits.body_bytes) {
      say(`The message and its files are larger than the server takes (${formatBytes(limits.body_bytes)}); remove a file.`);
      return;
    }
    const files = pending.splice(0);
    showPending();
    say("");
    input.value = "";
    grow();
    send(text, files);
  });
  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => {
    addFiles([...$("file").files]);
    $("file").value = "";
  });
  // Files dropped anywhere on the page, or pasted into the message box.
  const composer = $("composer");
  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    composer.classList.add("dropping");
  });
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) composer.classList.remove("dropping");
  });
  document.addEventListener("drop", (event) => {
    composer.classList.remove("dropping");
    if (!hasFiles(event)) return;
    event.preventDefault();
    addFiles([...event.dataTransfer.files]);
  });
  input.addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (files.length === 0) return;
    if (![...event.clipboardData.types].includes("text/plain")) event.preventDefault();
    addFiles(files);
  });
  stopButton.addEventListener("click", () => {
    if (state.controller) state.controller.abort();
  });
  $("new-chat").addEventListener("click", newChat);
  let searchTimer = 0;
  searchInput.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(refreshList, 200);
  });
  searchInput.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && searchInput.value) {
      event.preventDefault();
      event.stopPropagation();
      searchInput.value = "";
      refreshList();
    }
  });
  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(searchTimer);
    refreshList();
  });
  $("rename").addEventListener("click", startRename);
  $("rename-cancel").addEventListener("click", () => {
    cancelRename();
    $("rename").focus();
  });
  renameInput.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      cancelRename();
      $("rename").focus();
    }
  });
  renameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    rename(renameInput.value);
  });
  for (const [id, extension] of [["export-markdown", "md"], ["export-json", "json"]]) {
    downloadLink($(id), `conversation.${extension}`);
    $(id).addEventListener("click", () => { $("export").open = false; });
  }
  $("export").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && $("export").open) {
      $("export").open = false;
      $("export").querySelector("summary").focus();
    }
  });
  $("menu").addEventListener("click", (event) => {
    event.stopPropagation();
    setMenu(!document.body.classList.contains("menu-open"));
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && document.body.classList.contains("menu-open")) {
      setMenu(false);
      $("menu").focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (document.body.classList.contains("menu-open") && !$("sidebar").contains(event.target)) {
      setMenu(false);
    }
  });

  grow();
  loadLimits();
  loadModels();
  (async () => {
    const conversations = (await refreshList()) || [];
    if (state.current && conversations.some((c) => c.id === state.current)) {
      await openConversation(state.current);
    } else {
      setCurrent(null);
      showConversation(null);
    }
  })();
}

if (onPage) startPage();
else startStreamReader();
