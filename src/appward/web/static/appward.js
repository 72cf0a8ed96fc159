// Appward's pages' one script (templates/base.html loads it, deferred): progressive
// enhancement through data- attributes, nothing inline (the CSP forbids it). Every page
// works without it.
//
//   <button type="button" data-copy="#secret" hidden>Copy</button>
//       shown, and copies the target's value (or text) to the clipboard; an element with
//       data-copy-status="#secret" (role=status) announces the result.
//   <form data-confirm="Delete Weather Widget?">, <button data-confirm="...">
//       asks before the form is sent (a button's question wins for that button). A
//       convenience: a destructive action must also be safe without it.
//   [data-error-summary]
//       takes the focus when the page loads, so the errors are read out first.
"use strict";

(function () {
  function announce(selector, text) {
    document.querySelectorAll("[data-copy-status]").forEach(function (status) {
      if (status.getAttribute("data-copy-status") === selector) {
        status.textContent = text;
      }
    });
  }

  function copyText(target) {
    var text = "value" in target ? target.value : target.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain http (development): the older way, from a selection.
    return new Promise(function (resolve, reject) {
      if (typeof target.select === "function") {
        target.select();
      }
      (document.execCommand("copy") ? resolve : reject)();
    });
  }

  function setUpCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var selector = button.getAttribute("data-copy");
      var target = document.querySelector(selector);
      if (!target) {
        return;
      }
      var label = button.innerHTML;
      button.hidden = false;
      button.addEventListener("click", function () {
        copyText(target).then(
          function () {
            button.textContent = "Copied";
            announce(selector, "Copied to the clipboard");
            window.setTimeout(function () { button.innerHTML = label; }, 2000);
          },
          function () {
            announce(selector, "Could not copy: select the text and copy it yourself");
          }
        );
      });
    });
  }

  function setUpConfirmations() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var submitter = event.submitter;
      var question =
        (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) {
        event.preventDefault();
      }
    });
  }

  function focusErrorSummary() {
    var summary = document.querySelector("[data-error-summary]");
    if (summary) {
      summary.focus();
    }
  }

  setUpCopyButtons();
  setUpConfirmations();
  focusErrorSummary();
})();
