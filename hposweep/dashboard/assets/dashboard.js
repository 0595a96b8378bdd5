/* hposweep dashboard: fill the page from the JSON API and redraw when the study changes.
 * Every page polls a small version endpoint; when the study's files change, it fetches the new data and
 * redraws in place (plotly keeps zoom and filters: the figures carry a uirevision). No framework, no build. */
"use strict";
(function () {
  var CFG = JSON.parse(document.body.getAttribute("data-config"));
  var CSRF = document.querySelector('meta[name="hposweep-csrf"]').content;
  var PLOT = {displaylogo: false, responsive: true, showLink: false, showSendToCloud: false};
  var POLL_MS = 750;
  var app = document.getElementById("app");

  // --- helpers ---------------------------------------------------------------------------------------
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "cls") e.className = attrs[k];
      else if (k.slice(0, 2) === "on") e.addEventListener(k.slice(2), attrs[k]);
      else e.setAttribute(k, attrs[k]);
    });
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return e;
  }
  function getJSON(url) {
    return fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.error || ("HTTP " + r.status));
        return body;
      });
    });
  }
  function postJSON(url, body) {
    return fetch(url, {method: "POST", credentials: "same-origin", body: JSON.stringify(body),
      headers: {"content-type": "application/json", "x-hposweep-csrf": CSRF}}).then(function (r) {
      return r.json().then(function (b) { if (!r.ok) throw new Error(b.error || ("HTTP " + r.status)); return b; });
    });
  }
  function fmt(v) {
    if (v === null || v === undefined) return "";
    if (typeof v === "number") return Number.isInteger(v) ? String(v) : String(parseFloat(v.toPrecision(6)));
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function duration(s) {
    if (s === null || s === undefined) return "";
    if (s < 60) return s.toFixed(0) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }
  function when(ts) { return ts ? new Date(ts * 1000).toLocaleString() : ""; }
  function setLive(ok) { var l = document.getElementById("live"); if (l) l.className = ok ? "live" : "live stale"; }
  function draw(div, fig) {
    try { Plotly.react(div, fig.data, fig.layout, PLOT); }
    catch (e) { div.textContent = "could not draw this figure: " + e; }
  }
  function kv(pairs) {
    return el("table", {cls: "kv"}, pairs.map(function (p) {
      return el("tr", {}, [el("th", {text: p[0]}), el("td", {text: p[1]})]);
    }));
  }
  // Poll `versionUrl`; call `refresh()` at start and whenever the version changes (one refresh at a time).
  function watch(versionUrl, refresh) {
    var seen = null, busy = false;
    function tick() {
      if (busy) return;
      busy = true;
      getJSON(versionUrl).then(function (v) {
        setLive(true);
        if (v.version === seen) return null;
        seen = v.version;
        return refresh();
      }).catch(function () { setLive(false); }).then(function () { busy = false; });
    }
    tick();
    setInterval(tick, POLL_MS);
  }
  function studyBase() { return "/api/study/" + encodeURIComponent(CFG.study); }
  function downloads(trial, label) {
    return el("span", {cls: "controls"}, [label].concat(["args", "yaml", "json"].map(function (f) {
      return el("a", {cls: "button", href: studyBase() + "/params?trial=" + trial + "&format=" + f,
        download: "", "data-format": f, text: f});
    })));
  }

  // --- studies -----------------------------------------------------------------------------------------
  function studiesPage() {
    var box = el("section", {id: "studies"}, [el("h2", {text: "Studies"})]);
    var holder = el("div", {cls: "scroll"});
    var cmp = el("button", {text: "Compare selected", onclick: function () {
      var ids = Array.prototype.map.call(box.querySelectorAll("input.pick:checked"), function (c) { return c.value; });
      location.href = "/compare?ids=" + ids.join(",");
    }});
    box.appendChild(holder);
    box.appendChild(el("div", {cls: "controls"}, [cmp]));
    app.replaceChildren(box);
    var picked = {};
    function render(data) {
      box.querySelectorAll("input.pick").forEach(function (c) { picked[c.value] = c.checked; });
      var head = ["", "study", "state", "progress", "trials", "best", "sampler", "pruner", "ETA", "last change"];
      var rows = data.studies.map(function (s) {
        if (s.error) return el("tr", {}, [el("td"), el("td", {text: s.name}), el("td", {cls: "error", colspan: 8, text: s.error})]);
        var done = s.target ? Math.min(1, s.finished / s.target) : 0;
        var counts = Object.keys(s.counts).filter(function (k) { return s.counts[k]; })
          .map(function (k) { return s.counts[k] + " " + k; }).join(", ");
        var best = s.best === null ? "" : (s.best.pareto !== undefined ? s.best.pareto + " on the Pareto front"
          : fmt(s.best.value) + " (trial " + s.best.trial + ")");
        var pick = el("input", {type: "checkbox", cls: "pick", value: s.id});
        pick.checked = !!picked[s.id];
        return el("tr", {"data-study": s.id}, [
          el("td", {}, [pick]),
          el("td", {}, [el("a", {href: "/study/" + s.id, text: s.name, title: s.path})]),
          el("td", {}, [el("span", {cls: "pill " + (s.live ? "running" : ""), text: s.live ? "running" : "idle"})]),
          el("td", {}, [el("span", {cls: "bar"}, [el("i", {style: "width:" + (100 * done).toFixed(1) + "%"})]),
            " " + s.finished + (s.target ? " / " + s.target : "")]),
          el("td", {text: counts || "none yet"}), el("td", {text: best}),
          el("td", {text: s.sampler}), el("td", {text: s.pruner}), el("td", {text: s.eta === null ? "" : duration(s.eta)}),
          el("td", {text: when(s.updated)})]);
      });
      holder.replaceChildren(el("table", {cls: "list"}, [
        el("thead", {}, [el("tr", {}, head.map(function (h) { return el("th", {text: h}); }))]),
        el("tbody", {}, rows.length ? rows : [el("tr", {}, [el("td", {colspan: 10, text: "No study found in the given folders."})])])]));
    }
    function tick() { getJSON("/api/studies").then(function (d) { setLive(true); render(d); }).catch(function () { setLive(false); }); }
    tick();
    setInterval(tick, 2000);
  }

  // --- the trials table ---------------------------------------------------------------------------------
  function TrialsTable(container) {
    var state = {sort: 0, asc: true, data: null, known: null};
    var stateSel = el("select", {id: "filter-state"}, ["", "complete", "pruned", "failed", "interrupted", "running"]
      .map(function (s) { return el("option", {value: s, text: s || "every state"}); }));
    var text = el("input", {id: "filter-text", type: "search", placeholder: "text in any cell"});
    var col = el("select", {id: "filter-col"});
    var lo = el("input", {id: "filter-min", type: "number", step: "any", placeholder: "min", style: "width:90px"});
    var hi = el("input", {id: "filter-max", type: "number", step: "any", placeholder: "max", style: "width:90px"});
    var count = el("span", {cls: "note"});
    var holder = el("div", {cls: "scroll"});
    [stateSel, text, col, lo, hi].forEach(function (c) { c.addEventListener("input", render); c.addEventListener("change", render); });
    container.appendChild(el("div", {cls: "controls"}, [stateSel, text, "range:", col, lo, hi, count]));
    container.appendChild(holder);

    function render() {
      var d = state.data;
      if (!d) return;
      var s = stateSel.value, q = text.value.toLowerCase(), c = col.value === "" ? -1 : Number(col.value);
      var min = lo.value === "" ? null : Number(lo.value), max = hi.value === "" ? null : Number(hi.value);
      var rows = d.rows.filter(function (r) {
        if (s && r[1] !== s) return false;
        if (q && !r.some(function (v) { return fmt(v).toLowerCase().indexOf(q) >= 0; })) return false;
        if (c >= 0 && (min !== null || max !== null)) {
          var v = r[c];
          if (typeof v !== "number") return false;
          if (min !== null && v < min) return false;
          if (max !== null && v > max) return false;
        }
        return true;
      });
      var k = state.sort, sign = state.asc ? 1 : -1;
      rows.sort(function (a, b) {
        var x = a[k], y = b[k];
        if (x === null || y === null) return (x === null) - (y === null);
        if (typeof x === "number" && typeof y === "number") return sign * (x - y);
        return sign * (fmt(x) < fmt(y) ? -1 : fmt(x) > fmt(y) ? 1 : 0);
      });
      count.textContent = rows.length + " of " + d.rows.length + " trials";
      var head = el("tr", {}, d.headers.map(function (h, i) {
        return el("th", {text: h, cls: i === k ? (state.asc ? "asc" : "desc") : "", onclick: function () {
          if (state.sort === i) state.asc = !state.asc; else { state.sort = i; state.asc = true; }
          render();
        }});
      }));
      var retried = d.columns.indexOf("retried_as");
      var body = rows.map(function (r) {
        var fresh = state.known && state.known.indexOf(r[0] + ":" + r[1]) < 0;
        return el("tr", {cls: "st-" + r[1] + (fresh ? " fresh" : ""), "data-number": r[0], "data-state": r[1]},
          r.map(function (v, i) {
            if (i === 0) return el("td", {}, [el("a", {href: "/study/" + CFG.study + "/trial/" + v, text: String(v)})]);
            if (i === 1 && retried >= 0 && r[retried] !== null) {  // failed, then re-run by resume --retry-failed
              return el("td", {}, [v + " (retried as ", el("a", {href: "/study/" + CFG.study + "/trial/" + r[retried],
                text: "#" + r[retried]}), ")"]);
            }
            return el("td", {text: d.columns[i] === "duration" && typeof v === "number" ? v.toFixed(2) : fmt(v)});
          }));
      });
      holder.replaceChildren(el("table", {cls: "trials", id: "trials-table"}, [el("thead", {}, [head]), el("tbody", {}, body)]));
    }
    return {
      update: function (d) {
        if (state.data) state.known = state.data.rows.map(function (r) { return r[0] + ":" + r[1]; });
        state.data = d;
        var chosen = col.value;
        col.replaceChildren.apply(col, [el("option", {value: "", text: "column"})].concat(d.columns.map(function (c, i) {
          return (i > 1 && c !== "state" && c !== "reason") ? el("option", {value: String(i), text: d.headers[i]}) : null;
        }).filter(Boolean)));
        col.value = chosen;
        render();
      }
    };
  }

  // --- sections of figures ------------------------------------------------------------------------------
  function renderSections(container, sections) {
    var wanted = {};
    sections.forEach(function (sec) {
      var id = "sec-" + sec.id;
      wanted[id] = true;
      var box = document.getElementById(id);
      if (!box) {
        box = el("section", {id: id}, [el("h2"), el("div", {cls: "notes"}), el("div", {cls: sec.grid ? "grid" : "figs"}),
          el("div", {cls: "facts"})]);
        container.appendChild(box);
      }
      box.querySelector("h2").textContent = sec.title;
      box.querySelector(".notes").replaceChildren.apply(box.querySelector(".notes"),
        sec.notes.map(function (n) { return el("p", {cls: "note", text: n}); }));
      var figs = box.querySelector(".grid, .figs");
      sec.figures.forEach(function (fig, k) {
        var div = figs.children[k];
        if (!div) { div = el("div", {cls: "fig js-plotly-plot-holder", id: "fig-" + sec.id + "-" + k}); figs.appendChild(div); }
        draw(div, fig);
      });
      while (figs.children.length > sec.figures.length) { Plotly.purge(figs.lastChild); figs.removeChild(figs.lastChild); }
      var facts = box.querySelector(".facts");
      var parts = [];
      if (sec.facts.length) parts.push(kv(sec.facts));
      if (sec.cards.length) parts.push(el("div", {cls: "cards"}, sec.cards.map(function (c) {
        return el("div", {cls: "card"}, [el("h3", {text: c.title}), kv(c.facts)]);
      })));
      facts.replaceChildren.apply(facts, parts);
    });
    Array.prototype.slice.call(container.children).forEach(function (c) { if (!wanted[c.id]) container.removeChild(c); });
  }

  // --- one study ------------------------------------------------------------------------------------------
  function studyPage() {
    var top = el("section", {id: "summary"}, [el("div", {cls: "summary", id: "summary-facts"})]);
    top.appendChild(downloads("best", "best params:"));
    if (CFG.allowWrite) {
      var box = el("textarea", {id: "enqueue-params", rows: 2, cols: 60, placeholder: '{"lr": 0.01}'});
      var msg = el("span", {cls: "note"});
      top.appendChild(el("div", {cls: "controls"}, ["enqueue params (JSON):", box, el("button", {id: "enqueue", text: "Enqueue",
        onclick: function () {
          var params;
          try { params = JSON.parse(box.value); } catch (e) { msg.textContent = "not JSON: " + e; return; }
          postJSON(studyBase() + "/enqueue", {params: params}).then(function (r) {
            msg.textContent = "queued (" + r.result.queued + " waiting)";
          }).catch(function (e) { msg.textContent = e.message; });
        }}), msg]));
    }
    var figures = el("div", {id: "sections"});
    var trials = el("section", {id: "trials"}, [el("h2", {text: "Trials"})]);
    app.replaceChildren(top, figures, trials);
    var table = TrialsTable(trials);
    var figBusy = false, figAgain = false;
    function refreshFigures() {
      if (figBusy) { figAgain = true; return; }
      figBusy = true;
      getJSON(studyBase() + "/figures").then(function (d) { renderSections(figures, d.sections); })
        .catch(function (e) { figures.replaceChildren(el("p", {cls: "error", text: String(e.message)})); })
        .then(function () { figBusy = false; if (figAgain) { figAgain = false; refreshFigures(); } });
    }
    watch(studyBase() + "/version", function () {
      refreshFigures();  // slower (importance, contours): drawn when ready, the table does not wait for it
      return getJSON(studyBase() + "/trials").then(function (d) {
        var s = d.summary;
        var f = document.getElementById("summary-facts");
        var best = s.best === null ? "none yet" : (s.best.pareto !== undefined ? s.best.pareto + " trials on the front"
          : fmt(s.best.value) + " (trial " + s.best.trial + ")");
        f.replaceChildren.apply(f, [["study", s.path], ["state", s.live ? "running" : "idle"],
          ["progress", s.finished + (s.target ? " / " + s.target : "") + " finished"],
          ["best " + s.metrics.join(", "), best], ["ETA", s.eta === null ? "" : duration(s.eta)]]
          .map(function (p) { return el("div", {}, [el("b", {text: p[0]}), p[1]]); }));
        table.update(d);
      });
    });
  }

  // --- one trial ------------------------------------------------------------------------------------------
  function trialPage() {
    var url = studyBase() + "/trial/" + CFG.trial;
    var head = el("section", {id: "trial-head"}), curves = el("section", {id: "curves"}, [el("h2", {text: "Metrics"}), el("div", {cls: "grid"})]);
    var repro = el("section", {id: "reproduce"}), log = el("section", {id: "log"}), info = el("section", {id: "info"});
    app.replaceChildren(head, curves, repro, log, info);
    var actionsBuilt = false, notesBox = el("div"), actionMsg = el("span", {cls: "note"});
    function refresh() {
      return getJSON(url).then(function (d) {
        var r = d.record;
        var values = r.values ? Object.keys(r.values).map(function (k) { return [k, fmt(r.values[k])]; })
          : [[d.metrics[0] + " (" + d.directions[0] + ")", fmt(r.value)]];
        head.replaceChildren(el("h2", {}, ["Trial " + r.number + " ", el("span", {cls: "pill " + r.state, id: "trial-state", text: r.state}),
          d.is_best ? el("span", {cls: "pill", text: "best"}) : null,
          r.retried_as != null ? el("span", {cls: "note", id: "retried-as"}, [" retried as ",
            el("a", {href: "/study/" + CFG.study + "/trial/" + r.retried_as, text: "#" + r.retried_as})]) : null]),
          el("p", {}, [el("a", {href: "/study/" + CFG.study, text: "\u2190 " + d.study.name})]),
          kv(values.concat(Object.keys(r.params).map(function (k) { return [k, fmt(r.params[k])]; }))
            .concat([["duration", r.duration === null ? "" : r.duration.toFixed(2) + " s"], ["started", when(r.started_at)],
              ["finished", when(r.finished_at)], ["reason", r.reason || ""]])
            .concat(Object.keys(r.metrics).map(function (k) { return ["metric " + k, fmt(r.metrics[k])]; }))),
          downloads(r.number, "these params:"), downloads("best", "best params:"), notesBox);
        notesBox.replaceChildren.apply(notesBox, [el("h3", {text: "Notes"})].concat(d.notes.map(function (n) {
          return el("p", {cls: "note", text: when(n.at) + ": " + n.text});
        })).concat(d.stop_requested ? [el("p", {cls: "note", id: "stop-note", text: "stop requested at " + when(d.stop_requested)
          + (r.state === "running" ? "; waiting for its runner" : "")})] : []));
        if (CFG.allowWrite && !actionsBuilt) {
          actionsBuilt = true;
          var note = el("input", {id: "note-text", size: 50, placeholder: "a note on this trial"});
          head.parentNode.insertBefore(el("section", {id: "actions"}, [el("div", {cls: "controls"}, [note,
            el("button", {id: "add-note", text: "Add note", onclick: function () {
              postJSON(url + "/note", {text: note.value}).then(function () { note.value = ""; actionMsg.textContent = "noted"; })
                .catch(function (e) { actionMsg.textContent = e.message; });
            }}),
            el("button", {id: "stop-trial", cls: "danger", text: "Stop this trial", onclick: function () {
              if (!confirm("Stop trial " + CFG.trial + "? Its runner stops it as a prune would.")) return;
              postJSON(url + "/stop", {}).then(function () { actionMsg.textContent = "stop requested"; })
                .catch(function (e) { actionMsg.textContent = e.message; });
            }}), actionMsg])]), curves);
        }
        var stop = document.getElementById("stop-trial");
        if (stop) stop.style.display = r.state === "running" ? "" : "none";
        var grid = curves.querySelector(".grid");
        if (grid.querySelector("p.note")) grid.replaceChildren();
        d.curves.forEach(function (fig, k) {
          var div = grid.children[k] || grid.appendChild(el("div", {cls: "fig"}));
          draw(div, fig);
        });
        if (!d.curves.length) grid.replaceChildren(el("p", {cls: "note", text: "This trial reported no curve."}));
        var rp = d.reproduce;
        repro.replaceChildren(el("h2", {text: "Reproduce"}),
          rp.shell ? el("pre", {id: "repro-shell", text: rp.shell}) : el("p", {cls: "note", text: "No command recorded."}),
          kv([["command", rp.command || ""], ["working directory", rp.cwd || ""], ["git commit", rp.git_commit || ""]]),
          el("h3", {text: "Environment set by hposweep"}),
          kv(Object.keys(rp.env).map(function (k) { return [k, rp.env[k]]; })),
          el("p", {cls: "note", text: "Everything else came from the environment `hposweep run` started in."}));
        // The log is updated in place, not rebuilt: a reader scrolled up in it, or selecting a line, keeps
        // their place; one following the end stays at the end.
        var title = "Log" + (r.state === "running" ? " (live)" : ""), pre = document.getElementById("log-tail");
        if (d.log !== null && pre) {
          var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4, text = d.log.join("\n");
          if (pre.textContent !== text) pre.textContent = text;
          if (atEnd) pre.scrollTop = pre.scrollHeight;
          log.querySelector("h2").textContent = title;
        } else {
          log.replaceChildren(el("h2", {text: title}),
            d.log === null ? el("p", {cls: "note", text: "No log inside the study's logs folder."})
              : el("pre", {id: "log-tail", text: d.log.join("\n")}));
        }
        info.replaceChildren(el("h2", {text: "Run info"}), kv(Object.keys(r.info).filter(function (k) { return k !== "notes"; })
          .map(function (k) { return [k, fmt(r.info[k])]; })));
      }).catch(function (e) { head.replaceChildren(el("p", {cls: "error", text: e.message})); });
    }
    // A running trial's log grows without the study changing: refresh on a timer while it runs.
    refresh();
    setInterval(function () {
      var s = document.getElementById("trial-state");
      if (s && s.textContent === "running") refresh();
      else getJSON(url).then(function (d) { if (!s || d.record.state !== s.textContent) refresh(); });
    }, 1000);
  }

  // --- compare -------------------------------------------------------------------------------------------
  function comparePage() {
    var chosen = (CFG.ids || "").split(",").filter(Boolean);
    var pickers = el("div", {cls: "controls"}), fig = el("div", {cls: "fig", id: "compare-fig"});
    var note = el("p", {cls: "note", text: "Best-so-far of each study's first objective (dots: its complete trials)."});
    app.replaceChildren(el("section", {id: "compare"}, [el("h2", {text: "Compare studies"}), pickers, note, fig]));
    getJSON("/api/studies").then(function (d) {
      d.studies.forEach(function (s) {
        var box = el("input", {type: "checkbox", value: s.id});
        box.checked = chosen.indexOf(s.id) >= 0;
        box.addEventListener("change", function () {
          chosen = Array.prototype.map.call(pickers.querySelectorAll("input:checked"), function (c) { return c.value; });
          history.replaceState(null, "", "/compare?ids=" + chosen.join(","));
          tick();
        });
        pickers.appendChild(el("label", {}, [box, " " + s.name]));
      });
    });
    function tick() {
      if (!chosen.length) { fig.replaceChildren(el("p", {cls: "note", text: "Tick the studies to compare."})); return; }
      getJSON("/api/compare?ids=" + chosen.join(",")).then(function (d) {
        setLive(true);
        if (d.figure) { if (!fig.classList.contains("js-plotly-plot")) fig.replaceChildren(); draw(fig, d.figure); }
        else fig.replaceChildren(el("p", {cls: "note", text: "No complete trial yet."}));
      }).catch(function () { setLive(false); });
    }
    tick();
    setInterval(tick, 2000);
  }

  ({studies: studiesPage, study: studyPage, trial: trialPage, compare: comparePage})[CFG.page]();
})();
