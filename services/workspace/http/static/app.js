/* Offline: register the service worker, keep today's round (the worklist and every patient on
   it) in the encrypted vault while online, queue a visit's commands made offline (each with an
   idempotency key, encrypted in the vault) and send them when the network returns, and wipe
   the vault at sign-out. A command the service refuses on replay (a stale version, a check)
   is shown as its page, so the nurse decides; the rest stay queued. */
(function () {
  if (!("serviceWorker" in navigator) || !window.indexedDB || !window.crypto
      || !crypto.subtle) return;
  /* Every write to the vault goes through store(): one at a time, and none once signing out
     has begun, so a page still being kept cannot land after the wipe (with a new key). */
  var leaving = false, writes = Promise.resolve();
  function store(path, text) {
    writes = writes.catch(function () {}).then(function () {
      if (!leaving) return VAULT.put(path, text);
    });
    return writes;
  }
  var logout = document.querySelector("form.logout");
  if (logout) {
    logout.addEventListener("submit", function (event) {
      event.preventDefault();
      leaving = true;
      writes.catch(function () {}).then(VAULT.wipe).finally(function () { logout.submit(); });
    });
  }

  async function queued() {
    var raw = await VAULT.get("queue");
    return raw ? JSON.parse(raw) : [];
  }

  var adding = Promise.resolve();
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (navigator.onLine || form === logout || form.method !== "post") return;
    event.preventDefault();
    var fields = {};
    new FormData(form, event.submitter).forEach(function (v, k) { fields[k] = String(v); });
    var item = { action: form.getAttribute("action"), fields: fields,
                 key: crypto.randomUUID() };
    adding = adding.catch(function () {}).then(queued).then(function (items) {   /* one append at a time */
      items.push(item);
      return store("queue", JSON.stringify(items));
    }).then(function () {
      var status = document.getElementById("queue-status");
      if (status) status.textContent = status.dataset.queued;
    });
  });

  var sending = false;
  async function replay() {
    if (sending || !navigator.onLine) return;
    sending = true;
    try {
      var items = await queued(), sent = 0;
      while (items.length) {
        var item = items[0], r;
        try {
          r = await fetch(item.action, {
            method: "POST", credentials: "same-origin", redirect: "manual",
            headers: { "Idempotency-Key": item.key },
            body: new URLSearchParams(item.fields) });
        } catch (e) { return; }            /* still offline: try again later */
        items.shift();
        sent += 1;
        await store("queue", JSON.stringify(items));
        if (r.type !== "opaqueredirect") {   /* refused: show the service's answer */
          var html = await r.text();
          document.open(); document.write(html); document.close();
          return;
        }
      }
      if (sent) location.reload();        /* the page as it stands after the commands */
    } finally { sending = false; }
  }
  window.addEventListener("online", replay);

  var round = document.querySelector("[data-offline-round]");
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function () {
    return navigator.serviceWorker.ready;
  }).then(async function () {
    if (!navigator.onLine) return;
    var before = (await queued()).length;
    await replay();
    if (before || !round) return;
    var paths = ["/worklist"];
    round.querySelectorAll("a[href^='/patients/']").forEach(function (a) {
      var path = a.getAttribute("href");
      if (paths.indexOf(path) < 0) paths.push(path);
    });
    for (var i = 0; i < paths.length && !leaving; i++) {
      var r = await fetch(paths[i], { credentials: "same-origin" });
      if (r.ok) await store(paths[i], await r.text());
    }
    var status = document.getElementById("offline-status");
    if (status) status.textContent = status.dataset.ready;
  }).catch(function () { /* the pages work without it */ });
})();
