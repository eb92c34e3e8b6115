// tz_app: passkeys in the browser. Buttons with data-passkey="register|sign-in|
// second-factor|reauth" ask the server for options (data-options-url), hand them to
// the browser's authenticator, and send its answer (PublicKeyCredential.toJSON())
// to data-submit-url. The server answers {"redirect": url} or {"error": message}.
(function () {
  "use strict";

  var supported = !!(window.PublicKeyCredential &&
    PublicKeyCredential.parseCreationOptionsFromJSON &&
    PublicKeyCredential.parseRequestOptionsFromJSON);

  function readText() {
    var node = document.getElementById("passkey-i18n");
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }
  var TEXT = readText();

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function send(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "X-CSRFToken": csrfToken(),
        "Accept": "application/json",
        "Content-Type": "application/json"
      },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          if (data.error === "reauth_required") {
            window.location.assign("/reauth/?next=" + encodeURIComponent(window.location.pathname + window.location.search));
          }
          // Our passkey answers say {"error": message}; the app's error pages
          // {"error": title, "message": message}.
          throw new Error(data.message || data.error || TEXT.failed || "Something went wrong.");
        }
        return data;
      });
    });
  }

  function showError(button, message) {
    var box = button.closest("[data-passkey-box], [data-passkey-form]");
    var slot = box && box.querySelector("[data-passkey-error]");
    if (!slot) return;
    slot.textContent = message;
    slot.hidden = !message;
  }

  function ceremony(button) {
    var kind = button.getAttribute("data-passkey");
    var nameInput = null;
    if (kind === "register") {
      var form = button.closest("[data-passkey-form]");
      nameInput = form && form.querySelector('[name="passkey_name"]');
    }
    return send(button.getAttribute("data-options-url")).then(function (options) {
      if (kind === "register") {
        return navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options)
        });
      }
      return navigator.credentials.get({
        publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)
      });
    }).then(function (credential) {
      if (!credential) throw new Error(TEXT.cancelled || "No passkey was used.");
      var body = { credential: credential.toJSON() };
      if (nameInput) body.name = nameInput.value;
      return send(button.getAttribute("data-submit-url"), body);
    }).then(function (data) {
      window.location.assign(data.redirect || window.location.href);
    });
  }

  function start(event) {
    var button = event.target.closest("button[data-passkey]");
    if (!button || button.disabled) return;
    event.preventDefault();
    showError(button, "");
    button.disabled = true;
    ceremony(button).catch(function (error) {
      // The server's refusals arrive as Errors with its message; the browser's own
      // (cancelled, timed out, no passkey, already on this device) as DOMExceptions,
      // whose English text is not for people.
      var message = TEXT.failed || "Something went wrong.";
      if (error && error.name === "NotAllowedError") {
        message = TEXT.cancelled || "No passkey was used.";
      } else if (error && error.name === "InvalidStateError") {
        message = TEXT.taken || "This passkey is already registered.";
      } else if (error && error.name === "Error" && error.message) {
        message = error.message;
      }
      showError(button, message);
      button.disabled = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!supported) return;
    document.querySelectorAll("button[data-passkey]").forEach(function (button) {
      button.hidden = false;
    });
    document.querySelectorAll("[data-passkey-unsupported]").forEach(function (node) {
      node.hidden = true;
    });
  });
  document.addEventListener("click", start);
})();
