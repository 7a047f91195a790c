/* kokemus survey widget: shows the hosted survey form of a signed link in a small,
 * dismissible panel. No dependencies. Use:
 *   <script src="https://kokemus.example/static/widget.js"
 *           data-kokemus-link="https://kokemus.example/s/TOKEN"></script>
 * Optional: data-kokemus-title (the panel's accessible name), data-kokemus-close (the close
 * button's label), data-kokemus-delay (milliseconds before the panel opens).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) { return; }
  var link = script.getAttribute("data-kokemus-link");
  if (!link) { return; }
  var title = script.getAttribute("data-kokemus-title") || "Feedback";
  var closeLabel = script.getAttribute("data-kokemus-close") || "Close";
  var delay = parseInt(script.getAttribute("data-kokemus-delay") || "0", 10) || 0;
  // The compact layout, and answers saved with the source "widget".
  var src = link + (link.indexOf("?") < 0 ? "?" : "&") + "embed=1";

  function style(element, rules) {
    // Style properties set one by one: allowed by a strict Content-Security-Policy on the
    // host page, where a style attribute or an inline <style> would not be.
    for (var name in rules) {
      if (Object.prototype.hasOwnProperty.call(rules, name)) { element.style[name] = rules[name]; }
    }
  }

  function open() {
    var panel = document.createElement("aside");
    panel.className = "kokemus-widget";
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-label", title);
    style(panel, {
      position: "fixed", right: "1rem", bottom: "1rem", zIndex: "2147483000",
      width: "min(24rem, calc(100vw - 2rem))", height: "min(34rem, calc(100vh - 2rem))",
      background: "#fff", border: "1px solid #cfd6dd", borderRadius: "0.6rem",
      boxShadow: "0 0.5rem 2rem rgba(0, 0, 0, 0.2)", overflow: "hidden",
      display: "flex", flexDirection: "column"
    });

    var close = document.createElement("button");
    close.type = "button";
    close.className = "kokemus-widget-close";
    close.setAttribute("aria-label", closeLabel);
    close.textContent = "\u00d7";
    style(close, {
      alignSelf: "flex-end", margin: "0.25rem", width: "2rem", height: "2rem",
      border: "0", background: "transparent", fontSize: "1.4rem", lineHeight: "1",
      cursor: "pointer", color: "#333"
    });

    var frame = document.createElement("iframe");
    frame.className = "kokemus-widget-frame";
    frame.title = title;
    frame.src = src;
    style(frame, { flex: "1", width: "100%", border: "0" });

    function dismiss() {
      document.removeEventListener("keydown", onKey);
      if (panel.parentNode) { panel.parentNode.removeChild(panel); }
    }
    function onKey(event) {
      if (event.key === "Escape") { dismiss(); }
    }
    close.addEventListener("click", dismiss);
    document.addEventListener("keydown", onKey);

    panel.appendChild(close);
    panel.appendChild(frame);
    document.body.appendChild(panel);
  }

  function start() { window.setTimeout(open, delay); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
