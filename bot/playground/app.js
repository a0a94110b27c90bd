// The playground page: two chat panes over /playground/api (see bot/handlers/playground.py).
// Plain script, no build step. Every message text is put in the page with textContent:
// candidates' and HR's words are data, never markup.
"use strict";

(() => {
  const API = "/playground/api";
  const { fill, element, newId, createFeed } = window.OfferbotChat; // chat.js

  const $ = (selector) => document.querySelector(selector);
  const state = {
    token: sessionStorage.getItem("offerbot.token") || "",
    words: {},
    maxUploadMb: 20,
    locale: "zh-CN",
    timeZone: undefined,
    user: sessionStorage.getItem("offerbot.user") || "",
    items: new Map(), // item id → its <li>
    pendingEcho: new Map(), // client id → the <li> shown before the server confirms
    hrExample: "",
  };

  // -- words ---------------------------------------------------------------------------

  function word(key, values = {}) {
    return fill(state.words[key] || key, values);
  }

  function applyWords() {
    for (const el of document.querySelectorAll("[data-word]")) {
      const text = state.words[el.dataset.word];
      if (text) el.textContent = text;
    }
    document.title = word("title");
    $("#candidate-input").placeholder = word("candidate_placeholder");
    $("#hr-input").placeholder = word("hr_placeholder", { name: state.hrExample || "…" });
  }

  function setStatus(text, isError = false) {
    const el = $("#status");
    el.textContent = text;
    el.classList.toggle("error", isError);
  }

  function setConnection(mode) {
    const el = $("#connection");
    el.dataset.mode = mode;
    el.textContent = mode ? word(mode) : "";
  }

  // -- the API, with the token when one is needed ------------------------------------------

  async function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    if (state.token) headers.set("Authorization", `Bearer ${state.token}`);
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) {
      await askForToken(Boolean(state.token));
      return api(path, options);
    }
    return response;
  }

  function askForToken(wrong) {
    const dialog = $("#token-dialog");
    $("#token-error").hidden = !wrong;
    return new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => {
          state.token = $("#token-input").value.trim();
          sessionStorage.setItem("offerbot.token", state.token);
          resolve();
        },
        { once: true },
      );
      if (!dialog.open) dialog.showModal();
    });
  }

  // -- rendering -----------------------------------------------------------------------------

  function listFor(pane) {
    return pane === "hr" ? $("#hr-messages") : $("#candidate-messages");
  }

  function timeOf(iso) {
    return window.OfferbotChat.timeOf(iso, state.locale, state.timeZone);
  }

  function actionValue(action) {
    return { ...action.value, action: action.key };
  }

  function inboundText(item) {
    if (item.kind === "action") {
      // The server names the button from the catalogs (the card may have changed since).
      return word("clicked", { label: item.label || item.action.action });
    }
    if (item.kind === "event" && item.event && item.event.scene_param) {
      return word("opened_invite", { code: item.event.scene_param });
    }
    if (item.files && item.files.length) {
      return item.files.map((f) => word("sent_file", { name: f.name })).join("\n");
    }
    return item.text;
  }

  function fillMessage(li, item) {
    li.replaceChildren();
    li.className = `msg ${item.dir} ${item.status}`;
    if (item.actions && item.actions.length) li.classList.add("card");
    li.dataset.id = item.id;
    li.dataset.status = item.status;

    const meta = element("div", "meta");
    meta.append(element("span", "who", item.dir === "out" ? word("bot") : word("you")));
    const when = item.status === "scheduled"
      ? word("scheduled", { time: timeOf(item.at) })
      : timeOf(item.at);
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
    if (item.kind === "image" && item.image) showImage(bubble, item.image);
    if (item.actions && item.actions.length) bubble.append(buttons(item));
    li.append(bubble);
  }

  function buttons(item) {
    const row = element("div", "actions");
    for (const action of item.actions) {
      const value = actionValue(action);
      const button = element("button", action.style, action.label);
      button.type = "button";
      button.dataset.action = action.key;
      button.title = action.command;
      button.addEventListener("click", () => clickAction(item, action, value, button));
      row.append(button);
    }
    return row;
  }

  async function showImage(bubble, key) {
    const response = await api(`${API}/images/${encodeURIComponent(key)}`);
    if (!response.ok) return;
    const img = element("img", "chart");
    img.src = URL.createObjectURL(await response.blob());
    img.alt = "";
    bubble.append(img);
  }

  function render(item) {
    // A card that replaces an earlier one (after a click) takes its place.
    const replaced = item.replaces && state.items.get(`out:${item.replaces}`);
    let li = state.items.get(item.id) || replaced;
    if (li && li === state.items.get(item.id) && li.dataset.status === item.status) return;
    if (!li && item.dir === "in" && item.client_id) {
      li = state.pendingEcho.get(item.client_id);
      state.pendingEcho.delete(item.client_id);
      if (li) item.preview = li.dataset.preview;
    }
    const list = listFor(item.pane);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    if (!li) {
      li = element("li");
      list.append(li);
    }
    fillMessage(li, item);
    state.items.set(item.id, li);
    if (atBottom || item.dir === "in") list.scrollTop = list.scrollHeight;
  }

  function echo(pane, clientId, text, preview) {
    const li = element("li");
    if (preview) li.dataset.preview = preview;
    const at = new Date().toISOString();
    const id = `local:${clientId}`;
    fillMessage(li, { id, dir: "in", status: "pending", text, pane, at, preview });
    listFor(pane).append(li);
    listFor(pane).scrollTop = listFor(pane).scrollHeight;
    state.pendingEcho.set(clientId, li);
    return li;
  }

  function clearPane(pane) {
    for (const [id, li] of state.items) {
      if (li.parentElement === listFor(pane)) state.items.delete(id);
    }
    listFor(pane).replaceChildren();
  }

  // -- sending -------------------------------------------------------------------------------

  async function post(body) {
    const response = await api(`${API}/send`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) setStatus(word("send_failed"), true);
    return response.ok;
  }

  async function sendText(role, input) {
    const text = input.value.trim();
    if (!text) return;
    if (role === "candidate" && !state.user) {
      setStatus(word("no_candidate"), true);
      return;
    }
    const clientId = newId();
    input.value = "";
    const li = echo(role === "hr" ? "hr" : "candidate", clientId, text);
    const body = { role, text, client_id: clientId };
    if (role === "candidate") body.user = state.user;
    if (!(await post(body))) li.classList.add("failed");
  }

  // Which buttons a card still has is the server's business: after a decision the bot
  // sends the card again (replacing this one) with the outcome and the buttons that still
  // make sense. Here only the pressed button waits while the click is on its way.
  async function clickAction(item, action, value, button) {
    if (action.confirm && !window.confirm(action.confirm)) return;
    button.disabled = true;
    const role = item.pane === "hr" ? "hr" : "candidate";
    const body = { role, action: value, client_id: newId() };
    if (role === "candidate") body.user = state.user;
    try {
      await post(body);
    } finally {
      button.disabled = false;
    }
  }

  async function upload(file) {
    if (!state.user) {
      setStatus(word("no_candidate"), true);
      return;
    }
    if (file.size > state.maxUploadMb * 1024 * 1024) {
      setStatus(word("upload_too_large", { mb: state.maxUploadMb }), true);
      return;
    }
    const clientId = newId();
    const preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : "";
    const li = echo("candidate", clientId, word("sent_file", { name: file.name }), preview);
    const form = new FormData();
    form.append("user", state.user);
    form.append("client_id", clientId);
    form.append("file", file, file.name);
    const response = await api(`${API}/upload`, { method: "POST", body: form });
    if (response.ok) return;
    li.classList.add("failed");
    if (response.status === 413) {
      setStatus(word("upload_too_large", { mb: state.maxUploadMb }), true);
    } else if (response.status === 415) {
      setStatus(word("upload_wrong_type"), true);
    } else {
      setStatus(word("send_failed"), true);
    }
  }

  // -- receiving: an event stream, or polling when streams do not get through ----------------

  const feed = createFeed({
    request: (kind, since, options) => {
      const params = new URLSearchParams();
      if (state.user) params.set("user", state.user);
      if (since) params.set("since", since);
      return api(`${API}/${kind}?${params}`, options);
    },
    render,
    connection: setConnection,
  });

  async function follow(user) {
    feed.reset();
    state.user = user || "";
    sessionStorage.setItem("offerbot.user", state.user);
    const option = $("#candidate-select").selectedOptions[0];
    if (state.user && option && !state.user.startsWith("guest-")) {
      state.hrExample = option.textContent; // "/history <name>" in the HR input's hint
      applyWords();
    }
    clearPane("candidate");
    clearPane("hr");
    await feed.loadHistory();
    feed.listen();
  }

  // -- candidates and the demo -------------------------------------------------------------

  async function loadCandidates(selected) {
    const response = await api(`${API}/candidates`);
    if (!response.ok) return;
    const { candidates } = await response.json();
    const select = $("#candidate-select");
    select.replaceChildren();
    const known = candidates.some((c) => c.user === selected);
    // A guest who joined with an invite code is nobody's web id until the bot binds them.
    if (selected && !known && selected.startsWith("guest-")) {
      candidates.unshift({ user: selected, name: selected });
    }
    if (!candidates.length) select.append(element("option", "", word("no_candidate")));
    for (const candidate of candidates) {
      const option = element("option", "", candidate.name);
      option.value = candidate.user;
      select.append(option);
    }
    if (candidates.some((c) => c.user === selected)) select.value = selected;
    return select.value && candidates.length ? select.value : "";
  }

  async function startDemo() {
    const button = $("#start-demo");
    button.disabled = true;
    setStatus(word("starting"));
    try {
      const response = await api(`${API}/demo`, { method: "POST" });
      if (!response.ok) throw new Error(`demo: ${response.status}`);
      const demo = await response.json();
      await loadCandidates(demo.candidate.user);
      await follow(demo.candidate.user);
      const names = { name: demo.candidate.name, reapplicant: demo.reapplicant.name };
      setStatus(word("demo_started", names));
    } catch (error) {
      setStatus(word("demo_failed"), true);
    } finally {
      button.disabled = false;
    }
  }

  // An invite link (/playground?code=123456): a new web user who sends the code to bind.
  async function joinWithInviteCode(code) {
    const user = `guest-${newId().slice(0, 10)}`;
    await loadCandidates(user);
    await follow(user);
    const clientId = newId();
    echo("candidate", clientId, word("opened_invite", { code }));
    await post({ role: "candidate", user, invite_code: code, client_id: clientId });
    history.replaceState(null, "", location.pathname);
  }

  function showQuietHours(config) {
    if (!config.quiet_hours || config.quiet_hours.length !== 2) return;
    const [start, end] = config.quiet_hours;
    const notice = $("#quiet-notice");
    notice.textContent = word("quiet_notice", { start, end });
    notice.hidden = false;
  }

  async function start() {
    const config = await (await fetch(`${API}/config`)).json();
    state.words = config.words || {};
    state.maxUploadMb = config.max_upload_mb;
    document.documentElement.lang = config.language;
    state.locale = config.language === "en" ? "en-GB" : "zh-CN";
    state.timeZone = config.timezone;
    applyWords();
    showQuietHours(config);
    if (config.token_required && !state.token) await askForToken(false);

    $("#start-demo").addEventListener("click", startDemo);
    $("#candidate-select").addEventListener("change", (event) => follow(event.target.value));
    $("#candidate-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sendText("candidate", $("#candidate-input"));
    });
    $("#hr-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sendText("hr", $("#hr-input"));
    });
    $("#candidate-file").addEventListener("change", (event) => {
      const [file] = event.target.files;
      event.target.value = "";
      if (file) upload(file);
    });

    const code = new URLSearchParams(location.search).get("code");
    if (code && /^\d{6}$/.test(code)) {
      await joinWithInviteCode(code);
      return;
    }
    const user = await loadCandidates(state.user);
    await follow(user);
  }

  start();
})();
