// Progressive enhancement only: every form works without JavaScript.
document.addEventListener("DOMContentLoaded", () => {
  // A double click submits once (the server refuses a second decision anyway).
  document.querySelectorAll("form[data-once]").forEach((form) => {
    form.addEventListener("submit", (ev) => {
      const btn = ev.submitter;
      if (btn && btn.hasAttribute("data-needs-reason")) {
        const reason = form.querySelector("textarea[name=reason]");
        if (reason && !reason.value.trim()) {
          ev.preventDefault();
          reason.setCustomValidity("Say why you reject it; the requester sees this.");
          reason.reportValidity();
          reason.addEventListener("input", () => reason.setCustomValidity(""), { once: true });
          return;
        }
      }
      if (form.dataset.sent) { ev.preventDefault(); return; }
      form.dataset.sent = "1";
      if (btn) {
        // Keep the pressed button's value: disabled buttons are not submitted.
        const hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = btn.name; hidden.value = btn.value;
        if (btn.name) form.appendChild(hidden);
      }
      form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    });
  });
});
