// Passkeys on Gatehouse's pages: WebAuthn needs JavaScript, so this small
// script runs the ceremonies. Each is two server calls: a start, which
// answers the options for navigator.credentials and a ceremony id, and a
// finish with the browser's answer. Without JavaScript (or without WebAuthn)
// the passkey parts stay hidden and the page says so; the rest works alone.
(function () {
  "use strict";
  if (window.__gatehousePasskeys) return;
  window.__gatehousePasskeys = true;

  var supported = !!(window.PublicKeyCredential && navigator.credentials);
  var api = "/console/api/passkeys/";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var raw = atob(base64);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (c) {
      return Object.assign({}, c, { id: toBytes(c.id) });
    });
  }

  function creationOptions(options) {
    var key = Object.assign({}, options.publicKey);
    key.challenge = toBytes(key.challenge);
    key.user = Object.assign({}, key.user, { id: toBytes(key.user.id) });
    key.excludeCredentials = withIds(key.excludeCredentials);
    return { publicKey: key };
  }

  // The autofill request waiting in the background, which a click on the
  // button must end first (a browser runs one request at a time).
  var autofill = null;

  function requestOptions(options, conditional) {
    var key = Object.assign({}, options.publicKey);
    key.challenge = toBytes(key.challenge);
    key.allowCredentials = withIds(key.allowCredentials);
    var request = { publicKey: key };
    if (conditional) {
      request.mediation = "conditional";
      autofill = new AbortController();
      request.signal = autofill.signal;
    }
    return request;
  }

  function answerOf(credential) {
    var r = credential.response;
    var response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify({
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: response,
      extensions: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
    });
  }

  function post(path, fields) {
    return fetch(api + path, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString(),
    }).then(function (response) {
      return response.json().then(
        function (body) {
          if (!response.ok) throw new Error(body.error_description || "Something went wrong. Please try again.");
          return body;
        },
        function () {
          throw new Error("Gatehouse did not answer. Please try again.");
        }
      );
    });
  }

  function say(root, text) {
    var status = root.querySelector("[data-passkey-status]");
    if (status) status.textContent = text;
  }

  // A cancelled or timed-out prompt is the person's choice, not a fault.
  function failed(root, err) {
    if (err && (err.name === "NotAllowedError" || err.name === "AbortError")) {
      say(root, "The passkey request was cancelled or timed out. Nothing was changed; you can try again.");
    } else if (err && err.name === "InvalidStateError") {
      say(root, "This device's passkey is already registered here. Nothing was added.");
    } else {
      say(root, (err && err.message) || "That did not work. Please try again.");
    }
  }

  function busy(button, on) {
    if (button) button.disabled = on;
  }

  // Sign in or step up: "finish" names the server call after the prompt.
  function authenticate(root, button, kind, conditional) {
    var csrf = root.dataset.csrf;
    busy(button, true);
    if (!conditional) {
      if (autofill) autofill.abort();
      autofill = null;
      say(root, "Follow your browser's prompt to use your passkey…");
    }
    return post(kind + "/start", { csrf_token: csrf })
      .then(function (ceremony) {
        var options = requestOptions(JSON.parse(ceremony.options), conditional);
        return navigator.credentials.get(options).then(function (credential) {
          say(root, "Checking your passkey…");
          return post(kind + "/finish", {
            csrf_token: csrf,
            ceremony_id: ceremony.ceremony_id,
            answer: answerOf(credential),
            next: root.dataset.next || "/",
          });
        });
      })
      .then(function (done) {
        window.location.assign(done.redirect_to);
      })
      .catch(function (err) {
        busy(button, false);
        if (!conditional) failed(root, err);
      });
  }

  function register(root, form) {
    var csrf = root.dataset.csrf;
    var name = form.querySelector("input[name=name]").value;
    var button = form.querySelector("button");
    busy(button, true);
    say(root, "Follow your browser's prompt to create a passkey…");
    post("register/start", { csrf_token: csrf })
      .then(function (ceremony) {
        return navigator.credentials.create(creationOptions(JSON.parse(ceremony.options))).then(function (credential) {
          say(root, "Saving your passkey…");
          return post("register/finish", {
            csrf_token: csrf,
            ceremony_id: ceremony.ceremony_id,
            name: name,
            answer: answerOf(credential),
          });
        });
      })
      .then(function (done) {
        window.location.assign(done.redirect_to);
      })
      .catch(function (err) {
        busy(button, false);
        failed(root, err);
      });
  }

  function start() {
    var roots = document.querySelectorAll("[data-passkeys]");
    Array.prototype.forEach.call(roots, function (root) {
      var on = root.querySelector("[data-passkey-on]");
      var off = root.querySelector("[data-passkey-unsupported]");
      var needsScript = root.querySelector("[data-passkey-needs-script]");
      if (needsScript) needsScript.hidden = true;
      if (!supported) {
        if (off) off.hidden = false;
        return;
      }
      if (on) on.hidden = false;
      Array.prototype.forEach.call(root.querySelectorAll("button[data-passkey]"), function (button) {
        button.addEventListener("click", function () {
          authenticate(root, button, button.dataset.passkey, false);
        });
      });
      var form = root.querySelector("form[data-passkey-register]");
      if (form) {
        form.addEventListener("submit", function (event) {
          event.preventDefault();
          register(root, form);
        });
      }
      // The browser's passkey autofill on the email field, where offered:
      // started when the field is first used, not at every page view.
      var field = document.querySelector("input[autocomplete~=webauthn]");
      if (field && root.hasAttribute("data-passkey-autofill") && PublicKeyCredential.isConditionalMediationAvailable) {
        field.addEventListener(
          "focus",
          function () {
            PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
              if (available) authenticate(root, null, "signin", true);
            });
          },
          { once: true }
        );
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
