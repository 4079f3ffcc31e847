// The page of `bedrock-chat serve`: a chat over the server's /api.
//
// Text from the model or a user only ever enters the page as text: `textContent`, text nodes,
// and elements this file creates itself. Nothing is parsed as HTML (no innerHTML anywhere), so a
// reply that contains `<script>` or `<img onerror>` is shown, never run. Markdown is rendered by
// building elements from a small subset (paragraphs, headings, lists, quotes, code, emphasis,
// links to http(s) and mailto only).

const $ = (id) => document.getElementById(id);
const messagesEl = $("messages");
const input = $("input");
const sendButton = $("send");
const stopButton = $("stop");
const listEl = $("conversations");
const titleEl = $("title");
const usageEl = $("usage");

const state = {
  current: localStorage.getItem("bc_current"),
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

function safeHref(url) {
  try {
    const parsed = new URL(url, window.location.href);
    return ["http:", "https:", "mailto:"].includes(parsed.protocol) ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([\s\S]+?)\*\*|__([\s\S]+?)__|\*([^\s*][\s\S]*?)\*|_([^\s_][\s\S]*?)_(?![A-Za-z0-9])|\[([^\]]+)\]\(([^)\s]+)\)/;

function appendInline(parent, text) {
  while (text.length > 0) {
    const match = INLINE.exec(text);
    if (!match) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    if (match.index > 0) parent.appendChild(document.createTextNode(text.slice(0, match.index)));
    if (match[2] !== undefined) {
      const code = document.createElement("code");
      code.textContent = match[2].trim() === "" ? match[2] : match[2].replace(/^ (.*) $/, "$1");
      parent.appendChild(code);
    } else if (match[3] !== undefined || match[4] !== undefined) {
      const strong = document.createElement("strong");
      appendInline(strong, match[3] ?? match[4]);
      parent.appendChild(strong);
    } else if (match[5] !== undefined || match[6] !== undefined) {
      const em = document.createElement("em");
      appendInline(em, match[5] ?? match[6]);
      parent.appendChild(em);
    } else {
      const href = safeHref(match[8]);
      if (href) {
        const a = document.createElement("a");
        a.href = href;
        a.rel = "noopener noreferrer nofollow";
        a.target = "_blank";
        appendInline(a, match[7]);
        parent.appendChild(a);
      } else {
        parent.appendChild(document.createTextNode(match[0]));
      }
    }
    text = text.slice(match.index + match[0].length);
  }
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

function renderMarkdown(text) {
  const root = document.createDocumentFragment();
  const lines = text.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  let paragraph = [];
  const flush = () => {
    if (paragraph.length) {
      const p = document.createElement("p");
      paragraph.forEach((line, n) => {
        if (n > 0) p.appendChild(document.createElement("br"));
        appendInline(p, line);
      });
      root.appendChild(p);
      paragraph = [];
    }
  };
  while (i < lines.length) {
    const line = lines[i];
    const fence = /^\s*(```+|~~~+)\s*([\w+-]*)/.exec(line);
    if (fence) {
      flush();
      const body = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) body.push(lines[i++]);
      i++;
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      if (fence[2]) code.dataset.lang = fence[2];
      code.textContent = body.join("\n");
      pre.appendChild(code);
      const copy = copyButton("Copy code", () => code.textContent);
      copy.classList.add("copy-code");
      pre.appendChild(copy);
      root.appendChild(pre);
      continue;
    }
    const heading = /^(#{1,6})\s+(.*)$/.exec(line);
    if (heading) {
      flush();
      const h = document.createElement(`h${Math.min(heading[1].length + 2, 6)}`);
      appendInline(h, heading[2]);
      root.appendChild(h);
      i++;
      continue;
    }
    const listItem = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(line);
    if (listItem) {
      flush();
      const ordered = /\d/.test(listItem[1]);
      const list = document.createElement(ordered ? "ol" : "ul");
      while (i < lines.length) {
        const item = /^\s*([-*+]|\d+[.)])\s+(.*)$/.exec(lines[i]);
        if (!item || /\d/.test(item[1]) !== ordered) break;
        const li = document.createElement("li");
        appendInline(li, item[2]);
        list.appendChild(li);
        i++;
      }
      root.appendChild(list);
      continue;
    }
    // A table: a row of cells, then a separator row of dashes (GitHub's Markdown).
    const separator = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
    if (line.includes("|") && i + 1 < lines.length && separator.test(lines[i + 1])) {
      flush();
      const cells = (row) => row.trim().replace(/^\|/, "").replace(/\|$/, "").split("|").map((c) => c.trim());
      const table = document.createElement("table");
      const head = table.createTHead().insertRow();
      for (const cell of cells(line)) {
        const th = document.createElement("th");
        appendInline(th, cell);
        head.appendChild(th);
      }
      const body = table.createTBody();
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim() !== "") {
        const row = body.insertRow();
        for (const cell of cells(lines[i])) appendInline(row.insertCell(), cell);
        i++;
      }
      const scroller = document.createElement("div");
      scroller.className = "table";
      scroller.appendChild(table);
      root.appendChild(scroller);
      continue;
    }
    if (/^\s*>/.test(line)) {
      flush();
      const quote = document.createElement("blockquote");
      const body = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) body.push(lines[i++].replace(/^\s*>\s?/, ""));
      quote.appendChild(renderMarkdown(body.join("\n")));
      root.appendChild(quote);
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flush();
      root.appendChild(document.createElement("hr"));
      i++;
      continue;
    }
    if (line.trim() === "") flush();
    else paragraph.push(line);
    i++;
  }
  flush();
  return root;
}

// --- the conversation on screen ------------------------------------------------------------------

function scrollToEnd() {
  if (state.autoScroll) messagesEl.scrollTop = messagesEl.scrollHeight;
}

messagesEl.addEventListener("scroll", () => {
  const fromBottom = messagesEl.scrollHeight - messagesEl.scrollTop - messagesEl.clientHeight;
  state.autoScroll = fromBottom < 48;
});

function bubble(role, text) {
  const el = document.createElement("div");
  el.className = "message";
  el.dataset.role = role;
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

function setText(el, text) {
  el.raw = text;
  const body = el.querySelector(".body");
  body.replaceChildren();
  if (el.dataset.role === "assistant") body.appendChild(renderMarkdown(text));
  else body.textContent = text;
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

function markLastReply() {
  document.querySelectorAll("button.regenerate").forEach((b) => b.remove());
  const replies = messagesEl.querySelectorAll('.message[data-role="assistant"]');
  const last = replies[replies.length - 1];
  if (!last || state.busy) return;
  const button = document.createElement("button");
  button.type = "button";
  button.className = "small regenerate";
  button.textContent = "Regenerate";
  button.addEventListener("click", () => regenerate());
  last.querySelector(".actions").appendChild(button);
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
  titleEl.textContent = conversation ? conversation.title : "New chat";
  usageEl.textContent = conversation ? formatUsage(conversation.usage, conversation.cost_usd) : "";
  if (conversation) {
    for (const m of conversation.messages) bubble(m.role, m.text);
  }
  state.autoScroll = true;
  scrollToEnd();
  markLastReply();
}

// --- the list of conversations --------------------------------------------------------------

async function refreshList() {
  const response = await api("GET", "/conversations");
  if (!response.ok) return;
  const { conversations } = await response.json();
  listEl.replaceChildren();
  for (const c of conversations) {
    const li = document.createElement("li");
    if (c.id === state.current) li.className = "current";
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = c.title;
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

function setCurrent(id) {
  state.current = id;
  if (id) localStorage.setItem("bc_current", id);
  else localStorage.removeItem("bc_current");
}

async function openConversation(id) {
  if (state.busy) return;
  document.body.classList.remove("menu-open");
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
  document.body.classList.remove("menu-open");
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

// Runs one turn: `path` is `messages` (with `text`) or `retry`. The conversation on the server
// changes only if the reply completes, so on any failure or Stop the screen is reloaded from it.
async function turn(path, text) {
  setBusy(true);
  const controller = new AbortController();
  state.controller = controller;
  state.autoScroll = true;
  let reply = null;
  let failed = null;
  let stopped = false;
  const retry = () => (path === "retry" ? regenerate() : send(text));
  try {
    if (!state.current) {
      const created = await api("POST", "/conversations");
      if (!created.ok) throw await errorOf(created);
      setCurrent((await created.json()).id);
    }
    if (path === "messages") bubble("user", text);
    reply = bubble("assistant", "");
    reply.classList.add("thinking");
    const response = await api(
      "POST",
      `/conversations/${encodeURIComponent(state.current)}/${path}`,
      path === "messages" ? { text } : undefined,
      { accept: "text/event-stream", signal: controller.signal },
    );
    if (!response.ok) throw await errorOf(response);
    let pending = null;
    for await (const event of sseEvents(response)) {
      if (event.name === "delta") {
        reply.classList.remove("thinking");
        reply.raw += event.data.text;
        if (!pending) {
          pending = requestAnimationFrame(() => {
            pending = null;
            setText(reply, reply.raw);
            scrollToEnd();
          });
        }
      } else if (event.name === "notice") {
        notice(event.data.message);
      } else if (event.name === "done") {
        setText(reply, reply.raw);
        usageEl.textContent = formatUsage(event.data.conversation_usage, event.data.conversation_cost_usd);
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
    // The server kept the conversation as it was: show exactly that.
    const response = state.current
      ? await api("GET", `/conversations/${encodeURIComponent(state.current)}`)
      : null;
    if (response && response.ok) showConversation(await response.json());
    else if (reply) reply.remove();
    if (stopped) {
      if (path === "messages" && !input.value) input.value = text;
      notice("Stopped. The conversation is as it was before that message.");
    } else {
      const mine = path === "messages" ? bubble("user", text) : null;
      errorBubble(failed, () => {
        if (mine) mine.remove();
        retry();
      });
    }
  }
  setBusy(false);
  await refreshList();
}

function send(text) {
  return turn("messages", text);
}

function regenerate() {
  if (state.busy || !state.current) return;
  const replies = messagesEl.querySelectorAll('.message[data-role="assistant"]');
  const last = replies[replies.length - 1];
  if (last) last.remove();
  return turn("retry");
}

// --- the composer ---------------------------------------------------------------------------------

function grow() {
  input.style.height = "auto";
  input.style.height = `${Math.min(input.scrollHeight + 2, 192)}px`;
  input.style.overflowY = input.scrollHeight + 2 > 192 ? "auto" : "hidden";
}

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
  if (state.busy || text.trim() === "") return;
  input.value = "";
  grow();
  send(text);
});

stopButton.addEventListener("click", () => {
  if (state.controller) state.controller.abort();
});

$("new-chat").addEventListener("click", newChat);
$("menu").addEventListener("click", () => {
  const open = document.body.classList.toggle("menu-open");
  $("menu").setAttribute("aria-expanded", String(open));
});

// --- start ------------------------------------------------------------------------------------------

grow();
(async () => {
  const conversations = (await refreshList()) || [];
  if (state.current && conversations.some((c) => c.id === state.current)) {
    await openConversation(state.current);
  } else {
    setCurrent(null);
    showConversation(null);
  }
})();
