/* The workspace's offline copy: pages of today's round, encrypted with AES-GCM under a key
   made in this browser for the session (WebCrypto, not extractable), kept in IndexedDB and
   wiped at sign-out. Used by the pages (app.js) and the service worker (sw.js). */
var VAULT = (function () {
  var DB = "ehr-workspace", PAGES = "pages", KEYS = "keys";
  function open() {
    return new Promise(function (resolve, reject) {
      var r = indexedDB.open(DB, 1);
      r.onupgradeneeded = function () {
        r.result.createObjectStore(PAGES);
        r.result.createObjectStore(KEYS);
      };
      r.onsuccess = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
    });
  }
  function tx(store, mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(store, mode), req = fn(t.objectStore(store));
        t.oncomplete = function () { db.close(); resolve(req && req.result); };
        t.onerror = function () { db.close(); reject(t.error); };
      });
    });
  }
  async function key(create) {
    var k = await tx(KEYS, "readonly", function (s) { return s.get("session"); });
    if (!k && create) {
      k = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false,
                                          ["encrypt", "decrypt"]);
      await tx(KEYS, "readwrite", function (s) { return s.put(k, "session"); });
    }
    return k;
  }
  async function put(path, html) {
    var k = await key(true), iv = crypto.getRandomValues(new Uint8Array(12));
    var data = await crypto.subtle.encrypt({ name: "AES-GCM", iv: iv }, k,
                                           new TextEncoder().encode(html));
    await tx(PAGES, "readwrite", function (s) { return s.put({ iv: iv, data: data }, path); });
  }
  async function get(path) {
    var k = await key(false);
    if (!k) return null;
    var row = await tx(PAGES, "readonly", function (s) { return s.get(path); });
    if (!row) return null;
    var plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: row.iv }, k, row.data);
    return new TextDecoder().decode(plain);
  }
  function wipe() {
    return tx(PAGES, "readwrite", function (s) { return s.clear(); }).then(function () {
      return tx(KEYS, "readwrite", function (s) { return s.clear(); });
    });
  }
  return { put: put, get: get, wipe: wipe };
})();
