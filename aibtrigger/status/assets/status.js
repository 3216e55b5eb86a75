// Live updates: polls this page's own JSON (same URL, Accept: application/json) and updates the
// marked elements in place; reloads only when the page's shape changes (a build started or ended, a
// version was staged, promoted or rejected).
(function () {
  "use strict";
  var body = document.body, every = 3000, updated = document.getElementById("updated");
  // A refused form's page was answered to its POST: read and reload the view's own address instead.
  var own = body.getAttribute("data-self");
  function reload() { if (own) location.replace(own); else location.reload(); }
  function set(el, value) {
    value = value === null || value === undefined ? "" : String(value);
    if (el.textContent !== value) el.textContent = value;
  }
  function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") + " UTC" : ""; }
  function duration(s) {
    s = Math.round(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function shown(key, value) {
    if (/_at$/.test(key)) return when(value);
    if (/_seconds$/.test(key)) return value === null ? "" : duration(value);
    if (key === "newer_observed") return value ? "newer" : "";
    return value;
  }
  function fill(root, data) {
    root.querySelectorAll("[data-k]").forEach(function (el) {
      var key = el.getAttribute("data-k");
      if (key in data) set(el, shown(key, data[key]));
    });
  }
  function restate(el, state) {
    el.setAttribute("class", (el.getAttribute("class") || "").replace(/\bst-[a-z]+/, "st-" + state));
  }
  function find(attr, name) { return document.querySelector("[" + attr + '="' + CSS.escape(name) + '"]'); }
  var views = {
    overview: function (d) {
      d.templates.forEach(function (t) {
        var row = find("data-template", t.name);
        if (row) { restate(row, t.state); fill(row, t); }
      });
      document.querySelectorAll("[data-count]").forEach(function (el) {
        set(el, d.counts[el.getAttribute("data-count")] || 0);
      });
    },
    lineage: function (d) {
      d.nodes.forEach(function (n) {
        var node = find("data-template", n.name);
        if (node) { restate(node, n.state); fill(node, n); }
      });
      d.edges.forEach(function (e) {
        var path = find("data-edge", e.parent + ">" + e.child);
        if (path) path.classList.toggle("active", e.active);
      });
    },
    template: function (d) {
      var current = document.getElementById("current"), latest = d.runs.length ? d.runs[0].run_id : "";
      var running = d.current ? d.current.run_id : "";
      var staged = (d.staged || []).map(function (v) { return v.run_id; }).join(" ");
      if ((current ? current.getAttribute("data-run") : "") !== running || body.getAttribute("data-latest") !== latest ||
          body.getAttribute("data-staged") !== staged) {
        reload();
        return;
      }
      var state = document.getElementById("state");
      restate(state, d.template.state);
      set(state, d.template.state_label);
      fill(document.getElementById("facts"), d.template);
      if (d.current) {
        fill(current, d.current);
        set(document.getElementById("log"), d.current.log_tail.join("\n") || "(no log lines yet)");
      }
    }
  };
  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetch(own || location.href, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (d) { views[body.getAttribute("data-view")](d); set(updated, d.generated_at.slice(11, 19) + " UTC"); })
      .catch(function () { set(updated, "not updated: the service did not answer"); })
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
