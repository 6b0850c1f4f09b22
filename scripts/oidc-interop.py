#!/usr/bin/env python3
"""The OIDC vault seen by independent libraries (run by scripts/e2e, through the gateway).

- joserfc seals an enrolment commitment to the tenant's X25519 key (ECDH-ES, A256GCM):
  the vault must read a JWE it did not make; and joserfc opens a challenge the vault
  sealed to a key joserfc made.
- authlib drives the whole code flow with PKCE as a relying party: discovery, the
  authorization URL, the token endpoint, the ID token checked against the JWKS (iss,
  aud, exp, nonce, at_hash), userinfo, refresh, RP-initiated logout.
- soft-webauthn, a software authenticator (fido2's CBOR and COSE), registers a passkey
  and logs in with it through the whole code flow; a clone with a stale counter, a wrong
  origin and a replayed challenge are refused.
- headless Chromium drives the hosted login page over the DevTools protocol: a passkey
  with a virtual authenticator, the image login from a PNG the page reads on the device
  (zkp.js with WebCrypto), and the PIN step-up a blurrier photo asks for.
The login itself is the reference client (`oidc-vault client login --image`).

    oidc-interop.py VAULT_URL ADMIN_KEY OIDC_VAULT_BINARY WORKDIR
"""
import base64
import json
import math
import random
import secrets
import subprocess
import sys
import urllib.parse

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken
from joserfc import jwe
from joserfc.jwk import OKPKey

vault, admin_key, binary, workdir = sys.argv[1:5]
failures = 0


def check(description, condition, detail=""):
    global failures
    if condition:
        print(f"  ok    interop: {description}")
    else:
        failures += 1
        print(f"  FAIL  interop: {description} {detail}")
    return condition


def scene(seed, width=160, height=120, noise=0.0):
    """A photo-like test image (soft light, objects with edges), as binary PGM."""
    rng = random.Random(seed)
    blobs = [(rng.random(), rng.random(), rng.uniform(0.08, 0.3), rng.uniform(-70, 70)) for _ in range(6)]
    shapes = [(rng.uniform(0, 0.9), rng.uniform(0, 0.9), rng.uniform(0.04, 0.35), rng.uniform(0.04, 0.35),
               rng.uniform(-60, 60), rng.random() < 0.5) for _ in range(14)]
    gx, gy = rng.uniform(-50, 50), rng.uniform(-50, 50)
    noise_rng = random.Random(seed * 31 + 7)
    out = bytearray()
    for y in range(height):
        for x in range(width):
            u, v = x / width, y / height
            value = 128 + gx * (u - 0.5) + gy * (v - 0.5)
            for bx, by, r, bv in blobs:
                value += bv * math.exp(-((u - bx) ** 2 + (v - by) ** 2) / (r * r))
            for x0, y0, w, h, sv, rnd in shapes:
                dx, dy = (u - x0) / w, (v - y0) / h
                inside = (dx - 0.5) ** 2 + (dy - 0.5) ** 2 <= 0.25 if rnd else (0 <= dx <= 1 and 0 <= dy <= 1)
                if inside:
                    value += sv
            if noise:
                value += noise_rng.gauss(0, noise)
            out.append(max(0, min(255, int(round(value)))))
    return b"P5\n%d %d\n255\n" % (width, height) + bytes(out)


def png(pgm):
    """A binary PGM as an 8-bit grayscale PNG, as a phone's photo would come to a browser."""
    import struct
    import zlib
    _, size, _, raster = pgm.split(b"\n", 3)
    width, height = map(int, size.split())
    rows = b"".join(b"\x00" + raster[y * width:(y + 1) * width] for y in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


admin = {"X-API-Key": admin_key}
tenant, client_id, username = "interop", "rp-authlib", "pyuser"
redirect_uri, goodbye = "http://127.0.0.1:9/cb", "http://127.0.0.1:9/bye"
status = requests.post(f"{vault}/tenants", headers=admin, json={
    "tenant_id": tenant, "register_enable": True, "display_name": "Interop", "passkey_enabled": True,
    "webauthn_rp_id": "login.example.com", "webauthn_origins": ["https://login.example.com"]}).status_code
check("tenant made", status in (201, 409), status)
created = requests.post(f"{vault}/clients", headers=admin, json={
    "client_id": client_id, "name": "authlib RP", "tenant_id": tenant, "redirect_uris": [redirect_uri],
    "post_logout_redirect_uri": [goodbye], "allowed_scopes": ["openid", "profile", "email", "offline_access", "api"],
    "client_type": "confidential", "sing_alg": "RS256", "register_enable": True})
check("confidential RS256 client made", created.status_code == 200, created.text)
client_secret = created.json()["client_secret"]

discovery = requests.get(f"{vault}/tenants/{tenant}/.well-known/openid-configuration").json()
issuer = discovery["issuer"]
check("discovery names its issuer", issuer == f"{vault}/tenants/{tenant}", issuer)
jwks_document = requests.get(discovery["jwks_uri"]).json()
jwks = JsonWebKey.import_key_set({"keys": [k for k in jwks_document["keys"] if k.get("use") == "sig"]})

# Enrolment sealed by joserfc.
photo, second_photo = f"{workdir}/photo.pgm", f"{workdir}/photo-again.pgm"
open(photo, "wb").write(scene(42))
open(second_photo, "wb").write(scene(42, noise=8))
commitment = subprocess.run(
    [binary, "client", "enroll", "--print-commitment", "--image", photo, "--tenant", tenant, "--username", username,
     "--email", "py@example.com", "--url", vault], check=True, capture_output=True, text=True).stdout.strip()
enc = next(k for k in jwks_document["keys"] if k.get("use") == "enc")
sealed = jwe.encrypt_compact({"alg": "ECDH-ES", "enc": "A256GCM", "kid": enc["kid"]}, commitment.encode(), OKPKey.import_key(enc))
registered = requests.post(f"{vault}/auth/register?tenant_id={tenant}", json={
    "username": username, "email": "py@example.com", "encrypted_commitment": sealed, "proto_version": "1"})
check("the vault reads a commitment joserfc sealed", registered.status_code == 201, registered.text)

# A challenge the vault sealed, opened by joserfc.
mine = OKPKey.generate_key("X25519")
cipher_key = mine.as_dict(private=False)["x"]
challenge = requests.post(f"{vault}/auth/challenge?tenant_id={tenant}", json={"username": username, "cipherKey": cipher_key}).json()
opened = json.loads(jwe.decrypt_compact(challenge["challenge_data"], mine).plaintext)
check("joserfc opens the challenge the vault sealed", {"challenge_id", "nonce", "helper", "code"} <= set(opened), opened.keys())

# The code flow, as authlib's relying party runs it.
session = OAuth2Session(client_id, client_secret, scope="openid profile email offline_access", redirect_uri=redirect_uri,
                        code_challenge_method="S256", token_endpoint_auth_method="client_secret_basic")
verifier, nonce = generate_token(48), generate_token(16)
url, state = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
to_login = requests.get(url, allow_redirects=False)
login_query = urllib.parse.parse_qs(urllib.parse.urlparse(to_login.headers.get("Location", "")).query)
if not check("authorize sends the browser to the login UI", to_login.status_code == 302 and "auth_req_id" in login_query, (to_login.status_code, to_login.headers.get("Location"), to_login.text)):
    sys.exit(1)
auth_req_id = login_query["auth_req_id"][0]
login = subprocess.run(
    [binary, "client", "login", "--image", second_photo, "--tenant", tenant, "--username", username, f"--auth-req-id={auth_req_id}",
     "--client-id", client_id, "--url", vault], capture_output=True, text=True)
check("the reference client logs in with another shot of the photo", login.returncode == 0, login.stderr)
login_nonce = json.loads(login.stdout)["nonce"]
back = requests.get(f"{vault}/authorize/continue", params={"auth_req_id": auth_req_id, "nonce": login_nonce}, allow_redirects=False)
callback = back.headers.get("Location", "")
check("continue redirects to the client with code, state and iss", back.status_code == 302 and callback.startswith(redirect_uri), back.text)
callback_query = urllib.parse.parse_qs(urllib.parse.urlparse(callback).query)
check("the iss parameter is the issuer (RFC 9207)", callback_query.get("iss") == [issuer], callback_query.get("iss"))
token = session.fetch_token(discovery["token_endpoint"], authorization_response=callback, code_verifier=verifier, state=state)


def validate(id_token, access_token, expected_nonce):
    claims = jwt.decode(id_token, jwks, claims_cls=CodeIDToken,
                        claims_options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id}},
                        claims_params={"nonce": expected_nonce, "client_id": client_id, "access_token": access_token})
    claims.validate(leeway=5)
    return claims


def b64url(data):
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# Passkeys with a software authenticator: registered with the access token, then a login.
import copy  # noqa: E402

from soft_webauthn import SoftWebauthnDevice  # noqa: E402

origin = "https://login.example.com"
bearer = {"Authorization": f"Bearer {token['access_token']}"}
options = requests.post(f"{vault}/webauthn/register/options", headers=bearer, json={}).json()
device = SoftWebauthnDevice()
created = device.create({"publicKey": {**options, "challenge": unb64url(options["challenge"]),
                                       "user": {**options["user"], "id": unb64url(options["user"]["id"])}}}, origin)
registered_key = requests.post(f"{vault}/webauthn/register/verify", headers=bearer, json={
    "id": b64url(created["rawId"]), "raw_id": b64url(created["rawId"]),
    "client_data_json": b64url(created["response"]["clientDataJSON"]),
    "attestation_object": b64url(created["response"]["attestationObject"]), "name": "soft-webauthn"})
check("soft-webauthn registers a passkey", registered_key.status_code == 201, registered_key.text)


def passkey_assertion(authenticator, auth_req_id=None, origin_used=origin):
    login_options = requests.post(f"{vault}/webauthn/authenticate/options?tenant_id={tenant}",
                                  json={"username": username, "tenant_id": tenant}).json()
    assertion = authenticator.get({"publicKey": {"challenge": unb64url(login_options["challenge"]), "rpId": login_options["rpId"]}}, origin_used)
    body = {"id": b64url(assertion["rawId"]), "raw_id": b64url(assertion["rawId"]),
            "client_data_json": b64url(assertion["response"]["clientDataJSON"]),
            "authenticator_data": b64url(assertion["response"]["authenticatorData"]),
            "signature": b64url(assertion["response"]["signature"]), "username": username, "tenant_id": tenant,
            "user_handle": b64url(assertion["response"]["userHandle"])}
    query = f"?auth_req_id={auth_req_id}" if auth_req_id else ""
    return requests.post(f"{vault}/webauthn/authenticate/verify{query}", json=body), body, query


clone = copy.copy(device)  # the same key and counter, as a copied authenticator
passkey_verifier, passkey_nonce = generate_token(48), generate_token(16)
passkey_url, passkey_state = session.create_authorization_url(discovery["authorization_endpoint"], code_verifier=passkey_verifier, nonce=passkey_nonce)
to_passkey_login = requests.get(passkey_url, allow_redirects=False)
passkey_request = urllib.parse.parse_qs(urllib.parse.urlparse(to_passkey_login.headers.get("Location", "")).query)["auth_req_id"][0]
verified, replayable, replay_query = passkey_assertion(device, passkey_request)
check("the passkey logs in inside the authorization request", verified.status_code == 200 and verified.json().get("need_verify") is False, verified.text)
passkey_back = requests.get(f"{vault}/authorize/continue", params={"auth_req_id": passkey_request, "nonce": verified.json().get("nonce")}, allow_redirects=False)
passkey_token = session.fetch_token(discovery["token_endpoint"], authorization_response=passkey_back.headers.get("Location", ""),
                                    code_verifier=passkey_verifier, state=passkey_state)
try:
    passkey_claims = validate(passkey_token["id_token"], passkey_token["access_token"], passkey_nonce)
    check("the passkey login's ID token names the same user", passkey_claims["sub"] == validate(token["id_token"], token["access_token"], nonce)["sub"])
except Exception as error:  # noqa: BLE001
    check("the passkey login's ID token validates", False, repr(error))
check("a replayed assertion is refused", requests.post(f"{vault}/webauthn/authenticate/verify", json=replayable).status_code == 401)
cloned, _, _ = passkey_assertion(clone)
check("a cloned authenticator (stale counter) is refused", cloned.status_code == 401, cloned.text)
wrong_origin, _, _ = passkey_assertion(device, origin_used="https://evil.example")
check("an assertion from another origin is refused", wrong_origin.status_code == 401, wrong_origin.text)


try:
    claims = validate(token["id_token"], token["access_token"], nonce)
    check("authlib validates the ID token (signature, iss, aud, exp, nonce, at_hash)", True)
except Exception as error:  # noqa: BLE001 - any failure is the finding
    check("authlib validates the ID token", False, repr(error))
    claims = {}
userinfo = session.get(discovery["userinfo_endpoint"]).json()
check("userinfo names the same subject", userinfo.get("sub") == claims.get("sub") and userinfo.get("preferred_username") == username, userinfo)

refreshed = session.refresh_token(discovery["token_endpoint"], refresh_token=token["refresh_token"])
check("refresh rotates the refresh token", refreshed.get("refresh_token") not in (None, token["refresh_token"]))
try:
    jwt.decode(refreshed["id_token"], jwks, claims_options={"iss": {"value": issuer}, "aud": {"value": client_id}}).validate(leeway=5)
    check("the refreshed ID token validates", True)
except Exception as error:  # noqa: BLE001
    check("the refreshed ID token validates", False, repr(error))

bye = requests.get(discovery["end_session_endpoint"], params={
    "id_token_hint": token["id_token"], "post_logout_redirect_uri": goodbye, "state": "s-1", "client_id": client_id}, allow_redirects=False)
check("logout returns to the registered URI with the state", bye.status_code == 302 and bye.headers.get("Location") == goodbye + "?state=s-1", bye.text)
after = requests.post(discovery["token_endpoint"], auth=(client_id, client_secret),
                      data={"grant_type": "refresh_token", "refresh_token": refreshed["refresh_token"]})
check("the session's refresh token is dead after logout", after.status_code == 400 and after.json().get("error") == "invalid_grant", after.text)

# An EdDSA client's client_credentials token, verified by authlib against the JWKS.
machine_client = requests.post(f"{vault}/clients", headers=admin, json={
    "client_id": "rp-eddsa", "name": "machine", "tenant_id": tenant, "allowed_scopes": ["api"], "sing_alg": "EdDSA"})
if machine_client.status_code == 200:
    machine = requests.post(discovery["token_endpoint"], auth=("rp-eddsa", machine_client.json()["client_secret"]),
                            data={"grant_type": "client_credentials", "scope": "api"})
    try:
        verified = jwt.decode(machine.json()["access_token"], jwks)
        verified.validate(leeway=5)
        check("authlib verifies an EdDSA client_credentials token", verified.header.get("alg") == "EdDSA", verified.header)
    except Exception as error:  # noqa: BLE001
        check("authlib verifies an EdDSA client_credentials token", False, repr(error))
else:
    check("EdDSA client made", machine_client.status_code == 409, machine_client.text)

# The hosted login page in a real browser: headless Chromium (Debian's package) driven over
# the DevTools protocol, with a virtual authenticator. A user registers a passkey from the
# vault's origin, then logs in on the page and lands on the client's redirect URI with a
# code. Screenshots of each step go to SCREENSHOTS (default: WORKDIR/screens).
import os  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import websocket  # noqa: E402

chromium = shutil.which("chromium") or shutil.which("chromium-browser")
screens = os.environ.get("SCREENSHOTS", f"{workdir}/screens")
if not chromium:
    check("chromium is installed (apt-get install chromium)", False)
else:
    origin_url = urllib.parse.urlparse(vault)
    browser_origin = f"{origin_url.scheme}://{origin_url.netloc}"
    browser_tenant, browser_client, browser_user = "browser", "browser-rp", "bob"
    browser_redirect = "http://127.0.0.1:9/browser-cb"
    requests.post(f"{vault}/tenants", headers=admin, json={
        "tenant_id": browser_tenant, "register_enable": True, "display_name": "Browser", "passkey_enabled": True,
        "webauthn_rp_id": origin_url.hostname, "webauthn_origins": [browser_origin]})
    made = requests.post(f"{vault}/clients", headers=admin, json={
        "client_id": browser_client, "name": "Browser RP", "tenant_id": browser_tenant, "redirect_uris": [browser_redirect],
        "allowed_scopes": ["openid", "profile"], "client_type": "confidential", "register_enable": True}).json()
    browser_secret = made.get("client_secret")
    enrolled = subprocess.run([binary, "client", "enroll", "--image", photo, "--tenant", browser_tenant, "--username", browser_user,
                               "--email", "bob@example.com", "--url", vault], capture_output=True, text=True)
    check("bob enrols an image with the reference client", enrolled.returncode == 0, enrolled.stderr)

    def code_flow_url(verifier_text, nonce_text):
        challenge = base64.urlsafe_b64encode(__import__("hashlib").sha256(verifier_text.encode()).digest()).decode().rstrip("=")
        query = urllib.parse.urlencode({"response_type": "code", "client_id": browser_client, "redirect_uri": browser_redirect,
                                        "scope": "openid profile", "state": "s-" + nonce_text, "nonce": nonce_text, "code_challenge": challenge,
                                        "code_challenge_method": "S256"})
        to_login = requests.get(f"{vault}/tenants/{browser_tenant}/authorize?{query}", allow_redirects=False)
        return to_login.headers.get("Location", "")

    def tokens_for(code, verifier_text):
        return requests.post(f"{vault}/tenants/{browser_tenant}/oauth2/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": browser_redirect, "code_verifier": verifier_text,
            "client_id": browser_client, "client_secret": browser_secret}).json()

    # Bob's access token, from an image login.
    first_verifier = generate_token(48)
    login_url = code_flow_url(first_verifier, "n-b1")
    first_request = urllib.parse.parse_qs(urllib.parse.urlparse(login_url).query)["auth_req_id"][0]
    image_login = subprocess.run([binary, "client", "login", "--image", second_photo, "--tenant", browser_tenant, "--username", browser_user,
                                  f"--auth-req-id={first_request}", "--client-id", browser_client, "--url", vault], capture_output=True, text=True)
    resumed = requests.get(f"{vault}/authorize/continue", params={"auth_req_id": first_request, "nonce": json.loads(image_login.stdout or "{}").get("nonce")},
                           allow_redirects=False)
    first_code = urllib.parse.parse_qs(urllib.parse.urlparse(resumed.headers.get("Location", "")).query).get("code", [""])[0]
    bob_tokens = tokens_for(first_code, first_verifier)
    bob_access = bob_tokens.get("access_token", "")
    check("bob has an access token from the image login", bool(bob_access), bob_tokens)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        debug_port = probe.getsockname()[1]
    profile = tempfile.mkdtemp(prefix="chromium-")
    browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
                                f"--remote-debugging-port={debug_port}", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                targets = requests.get(f"http://127.0.0.1:{debug_port}/json/list", timeout=1).json()
                page_target = next(t for t in targets if t.get("type") == "page")
                break
            except Exception:  # noqa: BLE001 - still starting
                time.sleep(0.1)
        socket_url = page_target["webSocketDebuggerUrl"]
        cdp_socket = websocket.create_connection(socket_url, timeout=30, suppress_origin=True)
        events, counter = [], [0]

        def cdp(method, params=None):
            counter[0] += 1
            cdp_socket.send(json.dumps({"id": counter[0], "method": method, "params": params or {}}))
            while True:
                message = json.loads(cdp_socket.recv())
                if message.get("id") == counter[0]:
                    if "error" in message:
                        raise RuntimeError(f"{method}: {message['error']}")
                    return message.get("result", {})
                events.append(message)

        def evaluate(expression):
            result = cdp("Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True})
            return result.get("result", {}).get("value")

        def open_page(url):
            cdp("Page.navigate", {"url": url})
            for _ in range(100):
                if evaluate("document.readyState") == "complete":
                    return
                time.sleep(0.05)

        def screenshot(name):
            # A page between two navigations cannot be captured for a moment: try again.
            os.makedirs(screens, exist_ok=True)
            path = f"{screens}/{name}.png"
            for _ in range(10):
                try:
                    data = cdp("Page.captureScreenshot", {"format": "png"})["data"]
                    open(path, "wb").write(base64.b64decode(data))
                    return path
                except (RuntimeError, websocket.WebSocketTimeoutException):
                    time.sleep(0.1)
            return path

        def page_errors():
            """What the page's scripts threw or logged, to show with a failed check."""
            found = []
            for event in events:
                if event.get("method") == "Runtime.exceptionThrown":
                    details = event["params"]["exceptionDetails"]
                    found.append(details.get("exception", {}).get("description") or details.get("text"))
                elif event.get("method") == "Runtime.consoleAPICalled":
                    found.append(" ".join(str(a.get("value", a.get("description"))) for a in event["params"]["args"]))
                elif event.get("method") == "Log.entryAdded":
                    found.append(event["params"]["entry"].get("text"))
            return found

        cdp("Page.enable")
        cdp("Network.enable")
        cdp("Runtime.enable")
        cdp("Log.enable")
        # A phone-sized window, so a screenshot shows the whole page.
        cdp("Emulation.setDeviceMetricsOverride", {"width": 420, "height": 860, "deviceScaleFactor": 1, "mobile": False})
        cdp("WebAuthn.enable")
        cdp("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
            "isUserVerified": True, "automaticPresenceSimulation": True}})
        # Bob registers a passkey from the vault's origin (as an account page would).
        open_page(f"{vault}/login")
        registered_in_browser = evaluate("""(async () => {
            const token = %s, base = %s;
            const b = (t) => Uint8Array.from(atob(t.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((t.length + 3) %% 4)), c => c.charCodeAt(0));
            const s = (x) => btoa(String.fromCharCode(...new Uint8Array(x))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
            const o = await (await fetch(base + '/webauthn/register/options', {method: 'POST', headers: {'Authorization': 'Bearer ' + token,
                'Content-Type': 'application/json'}, body: '{}'})).json();
            const c = await navigator.credentials.create({publicKey: {challenge: b(o.challenge), rp: o.rp,
                user: {id: b(o.user.id), name: o.user.name, displayName: o.user.displayName}, pubKeyCredParams: o.pubKeyCredParams,
                authenticatorSelection: o.authenticatorSelection, attestation: 'none'}});
            const r = await fetch(base + '/webauthn/register/verify', {method: 'POST', headers: {'Authorization': 'Bearer ' + token,
                'Content-Type': 'application/json'}, body: JSON.stringify({id: c.id, raw_id: s(c.rawId),
                client_data_json: s(c.response.clientDataJSON), attestation_object: s(c.response.attestationObject), name: 'Chromium'})});
            return r.status;
        })()""" % (json.dumps(bob_access), json.dumps(vault)))
        check("Chromium's virtual authenticator registers a passkey", registered_in_browser == 201, registered_in_browser)

        # The login on the hosted page, as a person would do it.
        passkey_verifier = generate_token(48)
        login_page = code_flow_url(passkey_verifier, "n-b2")
        check("authorize sends the browser to the hosted login page", login_page.startswith(f"{vault}/login?auth_req_id="), login_page)
        open_page(login_page + "&ui_locales=en")
        shown = evaluate("document.querySelector('h1').textContent + '|' + document.querySelector('strong').textContent")
        check("the page names the client", shown == "Sign in|Browser RP", shown)
        check("screenshot: the login page", os.path.exists(screenshot("1-login-page")))
        def wait_for_landing(nonce_text, rounds=200):
            """The URL of the request to the client's redirect URI that ends the flow of `nonce_text`
            (by its state: a late event of an earlier flow's landing is not this one)."""
            for _ in range(rounds):
                for event in events:
                    url = event.get("params", {}).get("request", {}).get("url", "") if event.get("method") == "Network.requestWillBeSent" else ""
                    if url.startswith(browser_redirect) and f"state=s-{nonce_text}&" in url + "&":
                        # Nothing listens there: leave Chromium's error page (which reloads
                        # itself, and can hold up a screenshot) for a blank one.
                        cdp("Page.navigate", {"url": "about:blank"})
                        return url
                try:
                    cdp_socket.settimeout(0.05)
                    events.append(json.loads(cdp_socket.recv()))
                except Exception:  # noqa: BLE001 - nothing yet
                    pass
                finally:
                    cdp_socket.settimeout(30)
            return None

        def same_user_as_bob(landed, verifier_text):
            browser_code = urllib.parse.parse_qs(urllib.parse.urlparse(landed).query)["code"][0]
            browser_tokens = tokens_for(browser_code, verifier_text)
            same_user = jwt.decode(browser_tokens.get("id_token", ""), jwks) if browser_tokens.get("id_token") else {}
            first_user = jwt.decode(bob_tokens.get("id_token", ""), jwks) if bob_tokens.get("id_token") else {}
            requests_seen = [e["params"]["request"]["method"] + " " + e["params"]["request"]["url"].split("?")[0].split("/")[-1] + " "
                             + e["params"]["request"]["url"].split("?")[-1][:60]
                             for e in events if e.get("method") == "Network.requestWillBeSent"]
            return bool(same_user.get("sub")) and same_user.get("sub") == first_user.get("sub"), (browser_tokens, landed, requests_seen)

        evaluate("document.getElementById('username').value = 'bob'; document.getElementById('passkey-button').click(); true")
        landed = wait_for_landing("n-b2")
        check("the passkey login lands on the client's redirect URI with a code", landed is not None and "code=" in landed, (landed, page_errors()))
        if landed:
            check("the passkey login's code gives bob's tokens", *same_user_as_bob(landed, passkey_verifier))

        # The image login on the page: the browser reads a PNG of another shot of bob's
        # photo (the page's zkp.js does the reference client's steps with WebCrypto).
        def choose_photo(pgm, name):
            path = f"{workdir}/{name}.png"
            open(path, "wb").write(png(pgm))
            root = cdp("DOM.getDocument")["root"]["nodeId"]
            node = cdp("DOM.querySelector", {"nodeId": root, "selector": "#photo"})["nodeId"]
            cdp("DOM.setFileInputFiles", {"nodeId": node, "files": [path]})

        def image_login(verifier_text, nonce_text, pgm, name):
            events.clear()
            open_page(code_flow_url(verifier_text, nonce_text) + "&ui_locales=en")
            choose_photo(pgm, name)
            evaluate("document.getElementById('username').value = 'bob'; document.getElementById('login-form').requestSubmit(); true")

        def page_state(rounds=100):
            """The step-up section's visibility and the status line, once either shows."""
            for _ in range(rounds):
                state = evaluate("[document.getElementById('step-up').hidden, document.getElementById('status').textContent]")
                if state and (not state[0] or state[1] not in ("", "Checking your image…")):
                    return state
                time.sleep(0.05)
            return state

        image_login(generate_token(48), "n-b3", scene(7), "another-photo")
        refused = page_state()
        screenshot("2-another-photo")
        check("another photo is refused on the page, and the page says so",
              refused == [True, "That did not work. Check your username and your image, and try again."], (refused, page_errors()))

        image_verifier = generate_token(48)
        image_login(image_verifier, "n-b4", scene(42, noise=8), "photo-again")
        landed = wait_for_landing("n-b4")
        check("the image login in the browser lands on the client's redirect URI with a code", landed is not None and "code=" in landed,
              (landed, page_errors()))
        if landed:
            check("the browser's image login code gives bob's tokens", *same_user_as_bob(landed, image_verifier))

        # A blurrier shot with a tenant that asks for the step-up on any bit error: the page
        # asks for bob's PIN, refuses a wrong one, and lets the right one through.
        pin_set = requests.put(f"{vault}/auth/step-up", headers={"Authorization": f"Bearer {bob_access}"}, json={"pin": "246810"})
        check("bob sets a PIN", pin_set.status_code == 200, pin_set.text)
        strict = requests.put(f"{vault}/tenants/{browser_tenant}", headers=admin, json={
            "display_name": "Browser", "register_enable": True, "passkey_enabled": True, "ber_soft_limit_percent": 0,
            "login_order": ["PIN", "PATTERN"]})
        check("the tenant asks for the step-up on any bit error", strict.status_code == 200, strict.text)
        step_verifier = generate_token(48)
        image_login(step_verifier, "n-b5", scene(42, noise=20), "photo-blurry")
        asked = page_state()
        screenshot("3-step-up")
        check("a blurrier photo logs in but the page asks for the step-up", asked and asked[0] is False, (asked, page_errors()))
        evaluate("document.getElementById('pin').value = '111111'; document.querySelector('form.step[data-method=PIN]').requestSubmit(); true")
        wrong = None
        for _ in range(100):
            wrong = evaluate("document.getElementById('status').textContent")
            if wrong:
                break
            time.sleep(0.05)
        check("a wrong PIN is refused on the page", wrong == "That is not right. Try again.", wrong)
        evaluate("document.getElementById('pin').value = '246810'; document.querySelector('form.step[data-method=PIN]').requestSubmit(); true")
        landed = wait_for_landing("n-b5")
        check("the right PIN lands on the client's redirect URI with a code", landed is not None and "code=" in landed, (landed, page_errors()))
        if landed:
            check("the code after the PIN gives bob's tokens", *same_user_as_bob(landed, step_verifier))
        # The pattern instead: the dots pressed in order on the page's grid.
        pattern_set = requests.put(f"{vault}/auth/step-up", headers={"Authorization": f"Bearer {bob_access}"}, json={"pattern": [0, 4, 8, 5]})
        check("bob sets a pattern", pattern_set.status_code == 200 and pattern_set.json() == {"pin": True, "pattern": True}, pattern_set.text)
        pattern_verifier = generate_token(48)
        image_login(pattern_verifier, "n-b6", scene(42, noise=20), "photo-blurry")
        asked = page_state()
        evaluate("""[0, 4, 8, 5].forEach((i) => document.querySelector('.cell[data-cell="' + i + '"]').click());
                    document.querySelector('form.step[data-method=PATTERN]').requestSubmit(); true""")
        landed = wait_for_landing("n-b6")
        check("the pattern drawn on the page's grid lands on the client's redirect URI with a code",
              asked and asked[0] is False and landed is not None and "code=" in landed, (asked, landed, page_errors()))
        # The gateway's API reference: Swagger UI renders each service's document, read
        # through the gateway, and offers all four.
        cdp("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        open_page(f"{browser_origin}/docs/")
        rendered = None
        for _ in range(200):
            rendered = evaluate("[document.querySelectorAll('.opblock').length, "
                                "Array.from(document.querySelectorAll('.topbar select option')).map((o) => o.textContent)]")
            if rendered and rendered[0] > 0:
                break
            time.sleep(0.05)
        check("the API reference at /docs/ renders the operations and lists the four documents",
              rendered and rendered[0] > 10 and len(rendered[1]) == 4, (rendered, page_errors()))
        options = rendered[1] if rendered else []
        for service in ["user-identity", "oidc-vault"]:
            open_page(f"{browser_origin}/docs/?service=" + urllib.parse.quote(next((o for o in options if o.startswith(service)), service)))
            count, title = 0, None
            for _ in range(200):
                count, title = evaluate("[document.querySelectorAll('.opblock').length, (document.querySelector('.info .title') || {}).textContent]")
                if count > 0:
                    break
                time.sleep(0.05)
            check(f"the API reference renders {service}'s document too", count > 10, (count, title, page_errors()))
        screenshot("4-api-reference")
        print(f"  note  screenshots: {screens}/1-login-page.png, 2-another-photo.png, 3-step-up.png, 4-api-reference.png")
    finally:
        browser.terminate()
        browser.wait(timeout=10)
        shutil.rmtree(profile, ignore_errors=True)

print(f"interop: {failures} failed")
sys.exit(1 if failures else 0)
