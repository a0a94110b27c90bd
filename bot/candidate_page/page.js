// The candidate page (see bot/handlers/candidate_page.py and docs/candidate-page.md).
// Plain script, no build step, no inline code (the page's CSP forbids it). Every text
// from the server is put in the page with textContent: words are data, never markup.
"use strict";

(() => {
  const BASE = location.pathname.replace(/\/+$/, ""); // /c/<token>, maybe behind a prefix
  const API = `${BASE}/api`;
  const { fill, element, newId, createFeed } = window.OfferbotChat; // chat.js

  const $ = (selector) => document.querySelector(selector);
  const state = {
    words: {},
    maxUploadMb: 20,
    locale: "zh-CN",
    timeZone: undefined,
    items: new Map(), // item id → its <li>
    pendingEcho: new Map(), // client id → the <li> shown before the server has it
    labels: new Map(), // button value (canonical JSON) → label
    clicked: new Set(), // cards answered here: their buttons stay disabled
    refreshTimer: 0,
    ended: false,
    offer: null,
  };

  // -- words --------------------------------------------------------------------------

  function word(key, values = {}) {
    return fill(state.words[key] || "", values);
  }

  function applyWords(config) {
    for (const el of document.querySelectorAll("[data-word]")) {
      const text = state.words[el.dataset.word];
      if (text) el.textContent = text;
    }
    document.title = word("title", { company: config.company });
    $("#company").textContent = config.company;
    $("#greeting").textContent = word("greeting", { name: config.name });
    $("#input").placeholder = word("placeholder");
    $("#attach-hint").textContent = word("attach_hint", { mb: state.maxUploadMb });
  }

  function setStatus(text) {
    const el = $("#status");
    el.textContent = text || "";
    el.hidden = !text;
  }

  function linkEnded() {
    state.ended = true;
    feed.stop();
    setStatus(word("link_ended") || "404");
    for (const el of document.querySelectorAll("button, input")) el.disabled = true;
  }

  // -- the API ------------------------------------------------------------------------

  async function api(path, options = {}) {
    const response = await fetch(`${API}/${path}`, {
      ...options,
      credentials: "omit",
      cache: "no-store",
    });
    if (response.status === 404) linkEnded();
    if (response.status === 429) setStatus(word("too_many"));
    return response;
  }

  function canonical(value) {
    const sorted = {};
    for (const key of Object.keys(value || {}).sort()) sorted[key] = value[key];
    return JSON.stringify(sorted);
  }

  function timeOf(iso) {
    return window.OfferbotChat.timeOf(iso, state.locale, state.timeZone);
  }

  // -- the offer, documents and guide --------------------------------------------------------

  function actionButton(action, onClick) {
    state.labels.set(canonical(action.value), action.label);
    const button = element("button", action.style || "default", action.label);
    button.type = "button";
    button.dataset.action = action.key;
    button.addEventListener("click", onClick);
    return button;
  }

  function showOffer(offer) {
    $("#offer").hidden = !offer;
    $("#no-offer").hidden = Boolean(offer);
    if (!offer) return;
    $("#offer-job").textContent = offer.job;
    $("#offer-salary").textContent = offer.salary;
    $("#offer-start").textContent = offer.start_date;
    $("#offer-deadline").textContent = offer.deadline;
    $("#offer-deadline-row").hidden = !offer.deadline;
    $("#offer-status").textContent = offer.status_text;
    $("#offer").dataset.status = offer.status;
    const row = $("#offer-actions");
    row.replaceChildren();
    for (const action of offer.actions) {
      row.append(actionButton(action, () => click(action, row)));
    }
    state.offer = offer;
    settleOfferCards();
  }

  // Once the offer is answered, its cards in the conversation take no more clicks.
  function settleOfferCards() {
    const offer = state.offer;
    if (!offer || offer.actions.length) return;
    for (const button of document.querySelectorAll("#messages button[data-offer]")) {
      if (button.dataset.offer === String(offer.id)) button.disabled = true;
    }
  }

  function showDocuments(documents) {
    $("#documents").hidden = !documents;
    $("#guide").hidden = !(documents && documents.guide);
    if (!documents) return;
    const { done, total } = documents;
    $("#progress-text").textContent = word("progress", { done, total });
    $("#progress").max = Math.max(total, 1);
    $("#progress").value = done;
    const list = $("#document-items");
    list.replaceChildren();
    documents.items.forEach((item, index) => {
      const li = element("li", `doc ${item.status}`);
      // The number is what the candidate may type to say which item a file is.
      li.append(element("span", "doc-name", `${index + 1}. ${item.name}`));
      li.append(element("span", "doc-status", word(`doc_${item.status}`)));
      list.append(li);
    });
    if (documents.guide) {
      $("#guide-title").textContent = documents.guide.title;
      $("#guide-text").textContent = documents.guide.text;
    }
  }

  async function loadState() {
    const response = await api("state");
    if (!response.ok) return null;
    const config = await response.json();
    showOffer(config.offer);
    showDocuments(config.documents);
    return config;
  }

  // A message from the bot may mean the offer or the progress moved: read them again.
  function refreshSoon() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(loadState, 300);
  }

  // -- the conversation ---------------------------------------------------------------------

  function inboundText(item) {
    if (item.kind === "action") {
      const label = state.labels.get(canonical(item.action)) || item.action.action;
      return word("clicked", { label });
    }
    if (item.files && item.files.length) {
      return item.files.map((f) => word("sent_file", { name: f.name })).join("\n");
    }
    return item.text;
  }

  function fillMessage(li, item) {
    li.replaceChildren();
    li.className = `msg ${item.dir} ${item.status}`;
    li.dataset.id = item.id;
    li.dataset.status = item.status;
    const meta = element("div", "meta");
    meta.append(element("span", "who", item.dir === "out" ? word("bot") : word("you")));
    const when = item.status === "scheduled" ? word("scheduled", { time: timeOf(item.at) }) : timeOf(item.at);
    meta.append(element("time", "", when));
    li.append(meta);
    const bubble = element("div", "bubble");
    if (item.title) bubble.append(element("strong", "title", item.title));
    const text = item.dir === "out" ? item.text : inboundText(item);
    if (text) bubble.append(element("p", "text", text));
    if (item.preview) {
      const img = element("img", "preview");
      img.src = item.preview;
      img.alt = "";
      bubble.append(img);
    }
    if (item.actions && item.actions.length) {
      const row = element("div", "actions");
      for (const action of item.actions) {
        const value = { ...action.value, action: action.key };
        const button = actionButton({ ...action, value }, () => {
          state.clicked.add(item.id);
          click({ ...action, value }, row);
        });
        button.disabled = state.clicked.has(item.id);
        if (["accept", "decline", "question"].includes(action.key) && value.offer_id) {
          button.dataset.offer = String(value.offer_id);
        }
        row.append(button);
      }
      bubble.append(row);
    }
    li.append(bubble);
  }

  function render(item) {
    const replaced = item.replaces && state.items.get(`out:${item.replaces}`);
    let li = state.items.get(item.id) || replaced;
    if (li && li === state.items.get(item.id) && li.dataset.status === item.status) return;
    if (!li && item.dir === "in" && item.client_id) {
      li = state.pendingEcho.get(item.client_id);
      state.pendingEcho.delete(item.client_id);
      if (li) item.preview = li.dataset.preview;
    }
    const list = $("#messages");
    if (!li) {
      li = element("li");
      list.append(li);
    }
    fillMessage(li, item);
    state.items.set(item.id, li);
    settleOfferCards();
    $("#empty").hidden = true;
    if (item.dir === "out") refreshSoon();
    li.scrollIntoView({ block: "end" });
  }

  function echo(clientId, text, preview) {
    const li = element("li");
    if (preview) li.dataset.preview = preview;
    const item = { id: `local:${clientId}`, dir: "in", status: "pending", text, at: new Date().toISOString(), preview };
    fillMessage(li, item);
    $("#messages").append(li);
    $("#empty").hidden = true;
    li.scrollIntoView({ block: "end" });
    state.pendingEcho.set(clientId, li);
    return li;
  }

  // -- sending ------------------------------------------------------------------------------

  async function post(body) {
    const response = await api("send", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok && response.status !== 429 && response.status !== 404) {
      setStatus(word("send_failed"));
    }
    return response.ok;
  }

  async function sendText() {
    const input = $("#input");
    const text = input.value.trim();
    if (!text || state.ended) return;
    const clientId = newId();
    input.value = "";
    setStatus("");
    const li = echo(clientId, text);
    if (!(await post({ text, client_id: clientId }))) li.classList.add("failed");
  }

  async function click(action, row) {
    if (action.confirm && !window.confirm(action.confirm)) return;
    const buttons = Array.from(row.querySelectorAll("button"));
    for (const button of buttons) button.disabled = true;
    const clientId = newId();
    const li = echo(clientId, word("clicked", { label: action.label }));
    setStatus("");
    if (!(await post({ action: action.value, client_id: clientId }))) {
      li.classList.add("failed");
      for (const button of buttons) button.disabled = false;
    }
  }

  async function upload(file) {
    if (state.ended) return;
    if (file.size > state.maxUploadMb * 1024 * 1024) {
      setStatus(word("upload_too_large", { mb: state.maxUploadMb }));
      return;
    }
    const clientId = newId();
    const preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : "";
    const li = echo(clientId, word("sent_file", { name: file.name }), preview);
    setStatus(word("uploading"));
    const form = new FormData();
    form.append("client_id", clientId);
    form.append("file", file, file.name);
    const response = await api("upload", { method: "POST", body: form });
    if (response.ok) {
      setStatus("");
      return;
    }
    if (response.status === 404 || response.status === 429) {
      li.classList.add("failed");
      return;
    }
    li.remove(); // refused: it was not sent, the status line says why
    state.pendingEcho.delete(clientId);
    let message = word("send_failed");
    try {
      const body = await response.json();
      if (body.message) message = body.message; // the server's polite sentence
    } catch (error) {
      // not JSON: keep the generic sentence
    }
    setStatus(message);
  }

  // -- receiving: an event stream, or polling when streams do not get through ---------------

  const feed = createFeed({
    request: (kind, since, options) =>
      api(`${kind}${since ? `?since=${encodeURIComponent(since)}` : ""}`, options),
    render,
    connection: (mode) => {
      document.body.dataset.connection = mode;
    },
    ended: () => state.ended,
  });

  async function start() {
    const config = await loadState();
    if (!config) return;
    state.words = config.words || {};
    state.maxUploadMb = config.max_upload_mb;
    state.timeZone = config.timezone;
    state.locale = config.language === "en" ? "en-GB" : "zh-CN";
    document.documentElement.lang = config.language;
    applyWords(config);
    showOffer(config.offer); // again: the button labels may use the words
    $("#form").addEventListener("submit", (event) => {
      event.preventDefault();
      sendText();
    });
    $("#file").addEventListener("change", (event) => {
      const [file] = event.target.files;
      event.target.value = "";
      if (file) upload(file);
    });
    await feed.loadHistory();
    feed.listen();
  }

  start();
})();
