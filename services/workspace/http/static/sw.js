/* The workspace's service worker: pages go to the network first; when it is down, a page of
   today's round is answered from the encrypted vault (marked as an offline copy). The
   stylesheet and scripts are kept in a cache (they hold no patient data). */
importScripts("/static/vault.js");
var STATIC = "workspace-static-v1";
var OFFLINE = '<p class="notice offline" role="status" lang="nb">Uten nett: dette er kopien ' +
  'fra da du sist var på nett. <span lang="en">Offline: the copy from when you were last ' +
  'online.</span></p>';

var ASSETS = ["/static/workspace.css", "/static/vault.js", "/static/app.js",
              "/static/manifest.json"];

self.addEventListener("install", function (event) {
  self.skipWaiting();
  event.waitUntil(caches.open(STATIC).then(function (cache) { return cache.addAll(ASSETS); }));
});
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

async function fromVault(path) {
  var html = await VAULT.get(path);
  if (html === null) {
    return new Response("<!doctype html><html lang=\"nb\"><head><meta charset=\"utf-8\">" +
      "<title>Uten nett</title></head><body><main><h1>Uten nett / Offline</h1><p>Denne siden " +
      "er ikke lagret. / This page is not kept offline.</p><p><a href=\"/worklist\">" +
      "Arbeidslisten / The worklist</a></p></main></body></html>",
      { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
  }
  return new Response(html.replace('<main id="main" tabindex="-1">',
                                   '<main id="main" tabindex="-1">' + OFFLINE),
                      { headers: { "Content-Type": "text/html; charset=utf-8" } });
}

self.addEventListener("fetch", function (event) {
  var url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  var page = url.pathname === "/worklist" || /^\/patients\/[0-9a-f-]{36}$/.test(url.pathname);
  if (event.request.mode === "navigate" && page) {
    event.respondWith(fetch(event.request).catch(function () {
      return fromVault(url.pathname);
    }));
  } else if (url.pathname.indexOf("/static/") === 0) {
    event.respondWith(caches.open(STATIC).then(function (cache) {
      return fetch(event.request).then(function (r) {
        cache.put(event.request, r.clone());
        return r;
      }).catch(function () {
        return cache.match(event.request).then(function (hit) { return hit || Response.error(); });
      });
    }));
  }
});
