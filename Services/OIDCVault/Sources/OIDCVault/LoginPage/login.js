// The hosted login page: a passkey login inside the authorization request, with
// WebAuthn in the browser. No framework, no inline script (the page's CSP allows only
// this file), no cookie: every call carries the request's auth_req_id.
"use strict";
(function () {
  const form = document.getElementById("passkey-form");
  const status = document.getElementById("status");
  if (!form) return;
  const base = form.dataset.base, tenant = form.dataset.tenant, authReqId = form.dataset.authReqId;
  const bytes = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4)), (c) => c.charCodeAt(0));
  const text = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const post = async (path, body) => {
    const response = await fetch(base + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!window.PublicKeyCredential) { status.textContent = form.dataset.unsupported; return; }
    const username = form.elements.username.value.trim();
    status.textContent = form.dataset.working;
    try {
      const options = await post("/webauthn/authenticate/options?tenant_id=" + encodeURIComponent(tenant), { username, tenant_id: tenant });
      const credential = await navigator.credentials.get({ publicKey: {
        challenge: bytes(options.challenge), rpId: options.rpId, timeout: options.timeout, userVerification: options.userVerification,
        allowCredentials: options.allowCredentials.map((c) => ({ type: c.type, id: bytes(c.id), transports: c.transports })),
      } });
      const answer = credential.response;
      const result = await post("/webauthn/authenticate/verify?auth_req_id=" + encodeURIComponent(authReqId), {
        id: credential.id, raw_id: text(credential.rawId), client_data_json: text(answer.clientDataJSON),
        authenticator_data: text(answer.authenticatorData), signature: text(answer.signature),
        user_handle: answer.userHandle ? text(answer.userHandle) : null, username, tenant_id: tenant,
      });
      window.location.assign(base + "/authorize/continue?auth_req_id=" + encodeURIComponent(authReqId) + "&nonce=" + encodeURIComponent(result.nonce));
    } catch (error) {
      status.textContent = form.dataset.failed;
    }
  });
})();
