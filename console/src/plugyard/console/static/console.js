// plugyard console: live tables, the event stream, and token-carrying actions. No build step.
"use strict";
(function () {
  const body = document.body;
  const base = body.dataset.base || "";
  const page = body.dataset.page;
  const tokenInput = document.getElementById("token");
  const message = document.getElementById("message");

  // The token: from ?token= once (then dropped from the address bar), else from this tab.
  const params = new URLSearchParams(location.search);
  if (params.has("token")) {
    sessionStorage.setItem("plugyard-token", params.get("token"));
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
  }
  const token = () => sessionStorage.getItem("plugyard-token") || "";
  if (tokenInput) {
    tokenInput.value = token();
    tokenInput.addEventListener("change", () => sessionStorage.setItem("plugyard-token", tokenInput.value.trim()));
  }
  const say = (text, bad) => {
    if (!message) return;
    message.textContent = text;
    message.className = bad ? "error" : "ok";
  };

  // Actions: POST with the token; the reply (or the refusal) is shown above the table.
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-action]");
    if (!button) return;
    ev.preventDefault();
    button.disabled = true;
    try {
      const response = await fetch(button.dataset.action, {
        method: "POST",
        headers: { "X-Plugyard-Token": token() },
      });
      const reply = await response.json().catch(() => ({}));
      if (response.ok) say(button.textContent + ": done", false);
      else say(button.textContent + ": " + response.status + " " + (reply.error || response.statusText), true);
    } catch (err) {
      say(button.textContent + ": " + err, true);
    } finally {
      button.disabled = false;
      refresh();
    }
  });

  // Live tables: the page's #live part is fetched again every second; open details stay open.
  const live = document.getElementById("live");
  let busy = false;
  async function refresh() {
    if (!live || busy || page === "events") return;
    busy = true;
    try {
      const query = new URLSearchParams(location.search);
      query.set("partial", "1");
      const response = await fetch(location.pathname + "?" + query, { cache: "no-store" });
      if (response.ok) {
        const open = new Set([...live.querySelectorAll("details[open] > summary")].map((s) => s.textContent));
        live.innerHTML = await response.text();
        live.querySelectorAll("details > summary").forEach((s) => {
          if (open.has(s.textContent)) s.parentElement.open = true;
        });
      }
    } catch (err) {
      // the host may be restarting; the next tick tries again
    } finally {
      busy = false;
    }
  }
  if (live && page !== "events") setInterval(refresh, 1000);

  // The event stream: Server-Sent Events; a reconnecting browser resumes after its last seq.
  const table = document.getElementById("events");
  if (!table) return;
  const tbody = table.querySelector("tbody");
  const lastSeq = document.getElementById("last-seq");
  const streamState = document.getElementById("stream-state");
  const topicInput = document.getElementById("topic");
  const pauseButton = document.getElementById("pause");
  let after = Number(table.dataset.after || "0");
  let paused = false;
  let pending = [];
  let source = null;
  const MAX_ROWS = 500;

  const glob = (pattern) => new RegExp("^" + pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".") + "$");
  const formatTime = (cell) => {
    const t = Number(cell.dataset.time);
    if (t) cell.textContent = new Date(t * 1000).toLocaleTimeString();
  };
  tbody.querySelectorAll("td.time").forEach(formatTime);

  function row(event) {
    const tr = document.createElement("tr");
    tr.dataset.seq = event.seq;
    tr.dataset.topic = event.topic;
    const cells = [String(event.seq), "", event.topic, event.source, JSON.stringify(event.data)];
    cells.forEach((text, i) => {
      const td = document.createElement("td");
      if (i === 0) td.className = "num";
      if (i === 1) { td.className = "time"; td.dataset.time = event.time; formatTime(td); }
      if (i === 2) td.className = "topic";
      if (i === 4) { const code = document.createElement("code"); code.textContent = text; td.appendChild(code); }
      else if (i !== 1) td.textContent = text;
      tr.appendChild(td);
    });
    return tr;
  }
  function show(events) {
    for (const event of events) tbody.insertBefore(row(event), tbody.firstChild);
    while (tbody.rows.length > MAX_ROWS) tbody.deleteRow(tbody.rows.length - 1);
  }
  function filterRows() {
    const pattern = glob(topicInput.value.trim() || "*");
    tbody.querySelectorAll("tr").forEach((tr) => { tr.hidden = !pattern.test(tr.dataset.topic); });
  }
  function connect() {
    if (source) source.close();
    const query = new URLSearchParams({ after: String(after) });
    const topic = topicInput.value.trim();
    if (topic) query.set("topic", topic);
    if (token()) query.set("token", token());
    source = new EventSource(base + "/events/stream?" + query);
    source.addEventListener("open", () => { streamState.textContent = "live"; });
    source.addEventListener("error", () => { streamState.textContent = "reconnecting"; });
    source.addEventListener("gap", (msg) => {
      const gap = JSON.parse(msg.data || "{}");
      say(gap.skipped
        ? gap.skipped + " events skipped: more per second than the live view carries ([console] stream_rate)"
        : "some events were missed: the host keeps only the most recent ones", true);
    });
    source.addEventListener("host-event", (msg) => {
      const event = JSON.parse(msg.data);
      if (event.seq <= after) return;
      after = event.seq;
      lastSeq.textContent = String(after);
      if (paused) pending.push(event);
      else show([event]);
    });
  }
  topicInput.addEventListener("change", () => { filterRows(); connect(); });
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    pauseButton.textContent = paused ? "resume" : "pause";
    streamState.textContent = paused ? "paused" : "live";
    if (!paused) { show(pending); pending = []; }
  });
  connect();
})();
