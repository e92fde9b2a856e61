// faxhub's web client: the little the pages do in the browser. Numbers checked as they are
// typed, the preview of the pages before sending, and a fax's status followed live. Every
// text from the server is put in the page as text (textContent), never as HTML.
"use strict";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function checkNumbers(form) {
  const to = form.querySelector("#to");
  const list = document.getElementById("numbers");
  let timer = null;
  const check = () => {
    fetch("/send/check?to=" + encodeURIComponent(to.value), { credentials: "same-origin" })
      .then((r) => r.json())
      .then((entries) => {
        list.replaceChildren();
        for (const e of entries) {
          const li = e.error
            ? el("li", "bad", e.entry + ": " + e.error)
            : el("li", "ok", e.entry + " → " + e.number);
          list.appendChild(li);
        }
      })
      .catch(() => {});
  };
  to.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(check, 300);
  });
  if (to.value) check();
}

function preview(form) {
  const button = document.getElementById("preview-button");
  const out = document.getElementById("preview");
  button.addEventListener("click", () => {
    out.replaceChildren(el("p", "busy", "Converting…"));
    button.disabled = true;
    fetch("/send/preview", { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then((r) => r.json())
      .then((answer) => {
        out.replaceChildren();
        if (answer.error) {
          out.appendChild(el("p", "error", answer.error));
          return;
        }
        const shown = answer.images.length;
        out.dataset.pages = answer.pages;
        out.appendChild(el("p", "meta", answer.pages + " page(s)" +
          (shown < answer.pages ? ", the first " + shown + " shown" : "")));
        const pages = el("div", "pages");
        answer.images.forEach((src, i) => {
          const img = el("img", "page");
          img.src = src;
          img.alt = "page " + (i + 1);
          pages.appendChild(img);
        });
        out.appendChild(pages);
      })
      .catch((e) => out.replaceChildren(el("p", "error", "The preview failed: " + e)))
      .finally(() => { button.disabled = false; });
  });
}

function follow(job) {
  const source = new EventSource(job.dataset.events);
  source.addEventListener("job", (message) => {
    const state = JSON.parse(message.data);
    document.getElementById("pages").textContent = state.pages;
    const view = document.getElementById("pages-view");
    if (state.converted && view && !view.querySelector("img")) {
      const link = el("a");
      link.href = view.dataset.base + "pages.pdf";
      const img = el("img", "thumb");
      img.src = view.dataset.base + "thumbnail.png";
      img.alt = "page 1";
      link.appendChild(img);
      const p = el("p");
      const pdf = el("a", null, "The pages sent (PDF)");
      pdf.href = link.href;
      p.appendChild(pdf);
      view.replaceChildren(link, p);
    }
    for (const r of state.recipients) {
      const row = job.querySelector('tr[data-number="' + CSS.escape(r.number) + '"]');
      if (!row) continue;
      const badge = row.querySelector(".badge");
      badge.className = "badge " + r.status;
      badge.dataset.status = r.status;
      badge.textContent = r.status;
      row.querySelector(".sent").textContent = r.pages_sent;
      row.querySelector(".reason").textContent = r.reason || "";
      row.querySelector(".tries").textContent = r.tries;
    }
  });
  source.addEventListener("end", () => source.close());
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("send");
  if (form) {
    checkNumbers(form);
    preview(form);
  }
  const job = document.getElementById("job");
  if (job && job.dataset.events) follow(job);
});
