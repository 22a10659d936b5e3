// Palisade's one script: the passkey ceremonies (WebAuthn) of the pages that offer a passkey.
//
// Every page works without it (password, TOTP and recovery codes); the passkey parts are
// `hidden` until this script shows them. A passkey button carries the server's options as JSON
// in `data-options` (`{"publicKey": {...}}`, as webauthn-rs sends them) and sits in a form with
// a hidden `credential` field: the script runs `navigator.credentials.get` or `.create`, writes
// the credential as JSON into that field and submits the form, so the browser follows the
// server's 303 itself (no fetch: `connect-src` stays `'none'`).
//
// On the login page (`data-conditional`) a conditional request is started at once, so the
// browser can offer passkeys in the username field's autofill (`autocomplete="username
// webauthn"`); pressing the button aborts it and starts a modal request instead.
"use strict";

(function () {
  const PKC = window.PublicKeyCredential;
  if (!PKC || !navigator.credentials) {
    return; // No WebAuthn here: the passkey parts stay hidden.
  }

  function bytesFromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
  }

  function base64urlFromBytes(buffer) {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) {
      binary += String.fromCharCode(byte);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withBinaryIds(descriptors) {
    return descriptors.map((d) => Object.assign({}, d, { id: bytesFromBase64url(d.id) }));
  }

  // WebAuthn Level 3 parses the JSON itself; older browsers get the binary fields decoded here.
  function requestOptions(json) {
    if (typeof PKC.parseRequestOptionsFromJSON === "function") {
      return PKC.parseRequestOptionsFromJSON(json);
    }
    const options = Object.assign({}, json, { challenge: bytesFromBase64url(json.challenge) });
    if (Array.isArray(json.allowCredentials)) {
      options.allowCredentials = withBinaryIds(json.allowCredentials);
    }
    return options;
  }

  function creationOptions(json) {
    if (typeof PKC.parseCreationOptionsFromJSON === "function") {
      return PKC.parseCreationOptionsFromJSON(json);
    }
    const options = Object.assign({}, json, {
      challenge: bytesFromBase64url(json.challenge),
      user: Object.assign({}, json.user, { id: bytesFromBase64url(json.user.id) }),
    });
    if (Array.isArray(json.excludeCredentials)) {
      options.excludeCredentials = withBinaryIds(json.excludeCredentials);
    }
    return options;
  }

  // The credential as `PublicKeyCredential.toJSON()` writes it (base64url, no padding).
  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      return credential.toJSON();
    }
    const r = credential.response;
    const json = {
      id: credential.id,
      rawId: base64urlFromBytes(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: base64urlFromBytes(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      json.response.attestationObject = base64urlFromBytes(r.attestationObject);
      if (typeof r.getTransports === "function") {
        json.response.transports = r.getTransports();
      }
    } else {
      json.response.authenticatorData = base64urlFromBytes(r.authenticatorData);
      json.response.signature = base64urlFromBytes(r.signature);
      if (r.userHandle) {
        json.response.userHandle = base64urlFromBytes(r.userHandle);
      }
    }
    return json;
  }

  function optionsOf(button) {
    const data = JSON.parse(button.dataset.options);
    return data.publicKey || data; // webauthn-rs wraps them; its `mediation` is ours to choose.
  }

  function send(form, credential) {
    form.elements.namedItem("credential").value = JSON.stringify(credentialJSON(credential));
    form.submit();
  }

  function say(form, message) {
    const status = form.querySelector("[data-passkey-status]");
    if (status) {
      status.textContent = message;
      status.hidden = !message;
    }
  }

  // The conditional request of the login page, while it waits for the autofill.
  let conditional = null;

  function startConditional(button) {
    const form = button.form;
    const controller = new AbortController();
    const settled = Promise.resolve()
      .then(() =>
        navigator.credentials.get({
          publicKey: requestOptions(optionsOf(button)),
          mediation: "conditional",
          signal: controller.signal,
        }),
      )
      .then(
        (credential) => {
          if (credential) {
            send(form, credential);
          }
        },
        () => {}, // Aborted for the button, or dismissed: the button is still there.
      );
    conditional = { controller, settled };
  }

  // A second request while one is pending is refused, so the pending one must have settled.
  async function stopConditional() {
    if (conditional) {
      const pending = conditional;
      conditional = null;
      pending.controller.abort();
      await pending.settled;
    }
  }

  async function ceremony(button) {
    const form = button.form;
    button.disabled = true;
    say(form, "");
    try {
      await stopConditional();
      const publicKey = optionsOf(button);
      const credential =
        button.dataset.webauthn === "create"
          ? await navigator.credentials.create({ publicKey: creationOptions(publicKey) })
          : await navigator.credentials.get({ publicKey: requestOptions(publicKey) });
      if (credential) {
        send(form, credential);
        return;
      }
    } catch (error) {
      // The person cancelled, timed out or has no matching passkey: say so, keep the page.
      say(form, "No passkey was used. You can try again.");
    }
    button.disabled = false;
    if (button.hasAttribute("data-conditional")) {
      startConditional(button);
    }
  }

  for (const button of document.querySelectorAll("button[data-webauthn]")) {
    const part = button.closest("[data-passkey]") || button;
    part.hidden = false;
    button.addEventListener("click", () => ceremony(button));
    if (
      button.hasAttribute("data-conditional") &&
      typeof PKC.isConditionalMediationAvailable === "function"
    ) {
      PKC.isConditionalMediationAvailable().then(
        (available) => {
          if (available) {
            startConditional(button);
          }
        },
        () => {},
      );
    }
  }
})();
