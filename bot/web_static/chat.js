// What the two chat pages share (the candidate page, /c/<token>, and the playground):
// small DOM helpers and the live feed, an event stream that falls back to polling when
// streams do not get through (docs/candidate-page.md, docs/playground.md). Plain script,
// no build step; each page loads it before its own script and reads `window.OfferbotChat`.
"use strict";

window.OfferbotChat = (() => {
  const POLL_MS = 2000;
  const STREAM_FAILURES_BEFORE_POLLING = 3;

  // A catalog sentence with its {placeholders} filled in (values are text, never markup).
  function fill(template, values = {}) {
    let text = template;
    for (const [name, value] of Object.entries(values)) {
      text = text.split(`{${name}}`).join(String(value));
    }
    return text;
  }

  function element(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined && text !== null) el.textContent = text;
    return el;
  }

  function newId() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // Times as the bot writes them: in the company's time zone, 24-hour clock.
  function timeOf(iso, locale, timeZone) {
    if (!iso) return "";
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    try {
      return new Date(iso).toLocaleTimeString(locale, { ...options, timeZone });
    } catch (error) {
      return new Date(iso).toLocaleTimeString(locale, options);
    }
  }

  // The conversation as it grows: `request(kind, since, options)` fetches "history" or
  // "events" after the cursor `since`; every item goes to `render`; `connection` hears
  // "live", "polling" or "offline"; once `ended()` is true the feed stops for good.
  function createFeed({ request, render, connection, ended = () => false }) {
    const feed = { since: "", stream: null, failures: 0, pollTimer: 0 };

    async function loadHistory() {
      const response = await request("history", feed.since);
      if (!response.ok) return false;
      const body = await response.json();
      body.items.forEach(render);
      feed.since = body.now;
      return true;
    }

    function handleEvent(chunk) {
      let name = "message";
      const data = [];
      for (const line of chunk.split("\n")) {
        if (line.startsWith("event:")) name = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (!data.length) return;
      const payload = JSON.parse(data.join("\n"));
      if (name === "message") render(payload);
      else if (name === "cursor") feed.since = payload.now;
    }

    async function listen() {
      if (ended()) return;
      const controller = new AbortController();
      feed.stream = controller;
      let heard = false;
      try {
        const response = await request("events", feed.since, { signal: controller.signal });
        if (!response.ok || !response.body) throw new Error(`events: ${response.status}`);
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          if (!heard) {
            heard = true;
            feed.failures = 0;
            connection("live");
          }
          buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            handleEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (error) {
        if (controller.signal.aborted) return;
      }
      if (controller.signal.aborted || ended()) return;
      if (!heard) feed.failures += 1;
      if (feed.failures >= STREAM_FAILURES_BEFORE_POLLING) {
        poll();
      } else {
        connection(heard ? "live" : "offline");
        setTimeout(listen, heard ? 0 : POLL_MS); // the server ends streams now and then
      }
    }

    async function poll() {
      if (ended()) return;
      connection("polling");
      try {
        await loadHistory();
      } catch (error) {
        connection("offline");
      }
      feed.pollTimer = setTimeout(poll, POLL_MS);
    }

    function stop() {
      if (feed.stream) feed.stream.abort();
      feed.stream = null;
      clearTimeout(feed.pollTimer);
    }

    // Start over from the beginning (another conversation is followed).
    function reset() {
      stop();
      feed.since = "";
      feed.failures = 0;
    }

    return { loadHistory, listen, stop, reset };
  }

  return { fill, element, newId, timeOf, createFeed };
})();
