// The hosted login page: the image login (zkp.js, on the device) and the passkey login
// (WebAuthn) inside the authorization request, then the PIN or pattern step-up when the
// image was not clear enough. No framework, no inline script (the page's CSP allows only
// these files), no cookie: every call carries the request's auth_req_id, and the step-up
// also the nonce the login returned.
"use strict";
(function () {
  const form = document.getElementById("login-form");
  const status = document.getElementById("status");
  if (!form) return;
  const { base, tenant, client, authReqId } = form.dataset;
  const request = "auth_req_id=" + encodeURIComponent(authReqId);
  const { encode, decode } = window.VaultZKP.base64url;
  let busy = false;

  class Refused extends Error {
    constructor(status) { super(String(status)); this.status = status; }
  }
  const post = async (path, body) => {
    const response = await fetch(base + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) throw new Refused(response.status);
    return response.json();
  };
  const say = (text) => { status.textContent = text; };
  const failure = (error) => (error instanceof Refused && error.status === 429 ? form.dataset.blocked : form.dataset.failed);
  const username = () => form.elements.username.value.trim();
  const resume = (nonce) => window.location.assign(base + "/authorize/continue?" + request + "&nonce=" + encodeURIComponent(nonce));

  // One attempt at a time; the buttons say so to assistive technology too.
  const attempt = async (work) => {
    if (busy) return;
    busy = true;
    document.querySelectorAll("button").forEach((button) => button.setAttribute("aria-disabled", "true"));
    try { await work(); } finally {
      busy = false;
      document.querySelectorAll("button").forEach((button) => button.removeAttribute("aria-disabled"));
    }
  };

  // A login answered {nonce, need_verify}: on to the client, or the step-up first.
  const loggedIn = (result) => {
    if (!result.need_verify) return resume(result.nonce);
    const stepUp = document.getElementById("step-up");
    const steps = stepUp.querySelectorAll("form.step");
    if (steps.length === 0) return say(form.dataset.failed);
    form.hidden = true;
    stepUp.hidden = false;
    stepUp.dataset.nonce = result.nonce;
    say("");
    document.getElementById("step-up-heading").focus();
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      const file = form.elements.photo.files[0];
      if (!file) return say(form.dataset.noImage);
      if (!window.crypto?.subtle || !window.OffscreenCanvas) return say(form.dataset.unsupported);
      say(form.dataset.checking);
      try {
        const name = username();
        const { privateKey, cipherKey } = await window.VaultZKP.loginKey();
        const challenge = await post("/auth/challenge?" + request, { username: name, cipherKey });
        const answer = await window.VaultZKP.answer({
          challenge: challenge.challenge_data, loginKey: privateKey, file, tenant, client, username: name,
        });
        loggedIn(await post("/auth/authenticate?" + request, { username: name, cipherKey, ...answer }));
      } catch (error) {
        say(failure(error));
      }
    });
  });

  const passkeyButton = document.getElementById("passkey-button");
  passkeyButton?.addEventListener("click", () => attempt(async () => {
    if (!form.reportValidity()) return;
    if (!window.PublicKeyCredential) return say(form.dataset.unsupported);
    const name = username();
    say(form.dataset.working);
    try {
      const options = await post("/webauthn/authenticate/options?tenant_id=" + encodeURIComponent(tenant), { username: name, tenant_id: tenant });
      const credential = await navigator.credentials.get({ publicKey: {
        challenge: decode(options.challenge), rpId: options.rpId, timeout: options.timeout, userVerification: options.userVerification,
        allowCredentials: options.allowCredentials.map((c) => ({ type: c.type, id: decode(c.id), transports: c.transports })),
      } });
      const answer = credential.response;
      loggedIn(await post("/webauthn/authenticate/verify?" + request, {
        id: credential.id, raw_id: encode(credential.rawId), client_data_json: encode(answer.clientDataJSON),
        authenticator_data: encode(answer.authenticatorData), signature: encode(answer.signature),
        user_handle: answer.userHandle ? encode(answer.userHandle) : null, username: name, tenant_id: tenant,
      }));
    } catch (error) {
      say(failure(error));
    }
  }));

  // The pattern: the dots in the order they are pressed, each once.
  document.querySelectorAll("form.step[data-method=PATTERN]").forEach((step) => {
    const cells = step.querySelectorAll(".cell");
    step.pattern = [];
    cells.forEach((cell) => cell.addEventListener("click", () => {
      const index = Number(cell.dataset.cell);
      if (step.pattern.includes(index)) return;
      step.pattern.push(index);
      cell.setAttribute("aria-pressed", "true");
      cell.textContent = String(step.pattern.length);
    }));
    step.querySelector(".clear").addEventListener("click", () => {
      step.pattern = [];
      cells.forEach((cell) => { cell.setAttribute("aria-pressed", "false"); cell.textContent = ""; });
    });
  });

  document.querySelectorAll("form.step").forEach((step) => step.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(async () => {
      const method = step.dataset.method;
      const body = { nonce: document.getElementById("step-up").dataset.nonce, method };
      if (method === "PIN") body.pin = step.elements.pin.value; else body.pattern = step.pattern;
      try {
        resume((await post("/auth/step-up?" + request, body)).nonce);
      } catch (error) {
        say(error instanceof Refused && error.status === 401 ? form.dataset.wrong : failure(error));
        if (method === "PIN") step.elements.pin.value = "";
      }
    });
  }));
})();
