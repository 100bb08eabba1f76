// The live alert board: the unit's open alerts from /board/feed (Server-Sent Events; the
// browser sends Last-Event-ID when it reconnects), each step posted to /board/alerts/...
"use strict";
(function () {
  const SEVERITY = {3: "▲ Rød / Red", 2: "● Gul / Yellow", 1: "■ Lav / Low", 0: "○ Info"};
  const STATUS = {raised: "Ikke kvittert / Not acknowledged",
                  acknowledged: "Kvittert / Acknowledged",
                  en_route: "Noen er på vei / Someone is on the way"};
  const SHOWN = {raised: ["acknowledge", "resolve"], acknowledged: ["on-my-way", "resolve"],
                 en_route: ["resolve"]};
  const list = document.getElementById("alerts");
  const card = document.getElementById("alert-card");
  const announce = document.getElementById("announce");
  const errorBox = document.getElementById("error");
  const connection = document.getElementById("connection");
  let seen = null;
  let current = [];

  function age(raised) {
    const min = Math.max(0, Math.round((Date.now() - Date.parse(raised)) / 60000));
    return min < 1 ? "Nå nettopp / Just now" : `${min} min siden / ${min} min ago`;
  }

  function render(alerts) {
    const focused = document.activeElement;
    const keep = focused && focused.closest("[data-alert]") ?
      [focused.closest("[data-alert]").dataset.alert, focused.dataset.step] : null;
    const notes = {};
    list.querySelectorAll("[data-alert]").forEach((li) => {
      notes[li.dataset.alert] = li.querySelector("textarea").value;
    });
    list.replaceChildren(...alerts.map((a) => {
      const li = card.content.firstElementChild.cloneNode(true);
      li.dataset.alert = a.alert_id;
      li.dataset.severity = String(a.severity);
      li.querySelector(".sev").textContent = SEVERITY[a.severity] || String(a.severity);
      li.querySelector(".what").textContent = a.display;
      li.querySelector(".person").textContent = a.patient_id.slice(0, 8);
      li.querySelector(".age").textContent = age(a.raised_at);
      li.querySelector(".status").textContent = (STATUS[a.status] || a.status) +
        (a.level ? ` – eskalert nivå ${a.level} / escalated level ${a.level}` : "");
      const textarea = li.querySelector("textarea");
      textarea.id = `note-${a.alert_id}`;
      textarea.value = notes[a.alert_id] || "";
      li.querySelectorAll("button[data-step]").forEach((b) => {
        b.hidden = !SHOWN[a.status].includes(b.dataset.step);
        b.addEventListener("click", () => act(a, b.dataset.step, textarea));
      });
      return li;
    }));
    document.getElementById("empty").hidden = alerts.length > 0;
    if (keep) {
      const li = list.querySelector(`[data-alert="${keep[0]}"]`);
      const again = li && (li.querySelector(`button[data-step="${keep[1]}"]:not([hidden])`) ||
                           li.querySelector("button:not([hidden])"));
      if (again) again.focus(); else list.focus();
    }
  }

  function tell(alerts) {
    if (seen === null) {
      announce.textContent = `${alerts.length} åpne alarmer / open alerts`;
    } else {
      const fresh = alerts.filter((a) => !seen.has(a.alert_id));
      if (fresh.length) {
        announce.textContent = fresh.map((a) =>
          `Ny alarm / New alert: ${a.display}, ${SEVERITY[a.severity] || a.severity}`).join(". ");
      }
    }
    seen = new Set(alerts.map((a) => a.alert_id));
  }

  async function act(a, step, textarea) {
    errorBox.textContent = "";
    const note = textarea.value.trim();
    if (step === "resolve" && !note) {
      errorBox.textContent =
        "Skriv hva som ble gjort før du avslutter. / Write what was done first.";
      textarea.focus();
      return;
    }
    const r = await fetch(`/board/alerts/${a.alert_id}/${step}`, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Requested-With": "ehr-board"},
      body: JSON.stringify(step === "resolve" ? {note} : {})});
    if (r.status === 401) { window.location.assign("/board/login"); return; }
    if (!r.ok) {
      let text = "";
      try { text = ((await r.json()).issue || [{}])[0].diagnostics || ""; } catch (e) { /* */ }
      errorBox.textContent = `Ikke utført / Not done (${r.status}) ${text}`;
    }
  }

  const source = new EventSource("/board/feed");
  source.onopen = () => { connection.textContent = connection.dataset.live; };
  source.onerror = () => { connection.textContent = connection.dataset.lost; };
  source.onmessage = (e) => {
    current = JSON.parse(e.data).alerts;
    tell(current);
    render(current);
  };
  setInterval(() => list.querySelectorAll("[data-alert]").forEach((li, i) => {
    if (current[i]) li.querySelector(".age").textContent = age(current[i].raised_at);
  }), 30000);
}());
