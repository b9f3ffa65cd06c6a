/* The attestation index's "Is my file preserved?" check: a digest (typed, or hashed here from a chosen
   file, which is never uploaded) is looked up in digests/<algorithm>/<hex>.json next to the page.
   A file of its own, not inline, so the site's Content-Security-Policy can allow scripts from the site only. */
(function () {
  "use strict";
  var form = document.getElementById("check"), input = document.getElementById("digest");
  var fileInput = document.getElementById("file"), answer = document.getElementById("answer");
  function say(nodes) { answer.replaceChildren.apply(answer, nodes); }
  function text(t) { return document.createTextNode(t); }
  function hex(buffer) { return Array.from(new Uint8Array(buffer), function (b) { return b.toString(16).padStart(2, "0"); }).join(""); }
  async function lookup(digest) {
    digest = digest.trim().toLowerCase();
    var algorithm = /^[0-9a-f]{64}$/.test(digest) ? "sha256" : /^[0-9a-f]{128}$/.test(digest) ? "sha512" : null;
    if (!algorithm) { say([text("That is not a sha256 (64 hex digits) or a sha512 (128 hex digits).")]); return; }
    say([text("Looking up " + algorithm + " " + digest.slice(0, 16) + "…")]);
    var r = await fetch("digests/" + algorithm + "/" + digest + ".json");
    if (r.status === 404 || r.status === 403) { say([text("Not found: no preserved file has this " + algorithm + ".")]); return; }
    if (!r.ok) { say([text("The lookup failed (HTTP " + r.status + "); try again later.")]); return; }
    var aus = (await r.json()).aus || [], out = [text("Preserved in " + aus.length + " AU(s): ")];
    for (var i = 0; i < aus.length; i++) {
      var au = aus[i], a = document.createElement("a"), line = au;
      a.href = au + ".html";
      try {
        var d = await (await fetch(au + ".json")).json();
        line = au + " — last verified " + (d.last_poll || "never") + ", " + d.agreement + "/" + d.nodes + " nodes agreeing";
      } catch (e) { /* the AU page is enough */ }
      a.textContent = line;
      out.push(a);
      if (i + 1 < aus.length) out.push(text("; "));
    }
    say(out);
  }
  form.addEventListener("submit", function (e) { e.preventDefault(); lookup(input.value); });
  fileInput.addEventListener("change", async function () {
    var f = fileInput.files[0];
    if (!f) return;
    if (!window.crypto || !crypto.subtle) { say([text("This browser cannot hash files here (it needs https); paste the digest instead.")]); return; }
    say([text("Hashing " + f.name + " in your browser…")]);
    input.value = hex(await crypto.subtle.digest("SHA-256", await f.arrayBuffer()));
    lookup(input.value);
  });
})();
