#!/usr/bin/env python3
"""What a client developer does first: generate a Python client from each service's
OpenAPI document (openapi-python-client, from PyPI), import it, and log in with it
against the live suite through the gateway (run by scripts/e2e).

    python-clients.py GATEWAY_URL WORKDIR APP_CLIENT_ID APP_SECRET VAULT_ADMIN_KEY
"""
import importlib
import pathlib
import subprocess
import sys

gateway, workdir, app_id, app_secret, vault_key = sys.argv[1:6]
root = pathlib.Path(__file__).resolve().parent.parent
generator = pathlib.Path(sys.executable).parent / "openapi-python-client"
failures = 0


def check(description, condition, detail=""):
    global failures
    print(f"  {'ok   ' if condition else 'FAIL '} python client: {description}" + ("" if condition else f" {detail}"))
    failures += 0 if condition else 1
    return condition


def client_package(service, directory):
    """Generates the client of `service` and imports its package."""
    output = pathlib.Path(workdir) / "clients" / directory
    result = subprocess.run([str(generator), "generate", "--path", str(root / f"Services/{directory}/Sources/{directory}/openapi.yaml"),
                             "--output-path", str(output), "--overwrite"], capture_output=True, text=True)
    # Warnings are fine (GET /openapi.yaml answers YAML, which it does not model); a model
    # it had to drop is not.
    dropped = "Unable to process schema" in result.stdout + result.stderr
    check(f"{service}'s document generates a client with every model", result.returncode == 0 and not dropped,
          (result.stdout + result.stderr)[-600:])
    package = next(p for p in output.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    # openapi-python-client 0.29.1 forgets to import `Unset` in the module of an operation
    # whose body has two media types (JSON and a form: meet's token, identity's binds).
    for module in (package / "api").rglob("*.py"):
        text = module.read_text()
        if "| Unset = UNSET" in text and "from ...types import Response, UNSET\n" in text:
            module.write_text(text.replace("from ...types import Response, UNSET\n", "from ...types import Response, UNSET, Unset\n"))
    sys.path.insert(0, str(output))
    return package.name


# meet-rooms: the application's token, then the user's rooms with it.
name = client_package("meet-rooms", "MeetRooms")
meet = importlib.import_module(name)
generate_token = importlib.import_module(f"{name}.api.authentication.generate_token")
list_rooms = importlib.import_module(f"{name}.api.rooms.list_rooms")
body = importlib.import_module(f"{name}.models.generate_token_json_body").GenerateTokenJsonBody.from_dict(
    {"client_id": app_id, "client_secret": app_secret, "grant_type": "client_credentials", "scope": "eve@example.com"})
answer = generate_token.sync_detailed(client=meet.Client(base_url=gateway), body=body)
token = getattr(answer.parsed, "access_token", None)
if check("meet-rooms: an application gets a token for eve", answer.status_code == 200 and token, answer.content[:300]):
    rooms = list_rooms.sync_detailed(client=meet.AuthenticatedClient(base_url=gateway, token=token))
    check("meet-rooms: and lists her rooms with it", rooms.status_code == 200 and rooms.parsed.count >= 1, rooms.content[:300])

# user-identity: a password login, then who the token says it is.
name = client_package("user-identity", "UserIdentity")
uai = importlib.import_module(name)
login = importlib.import_module(f"{name}.api.tokens.login")
get_me = importlib.import_module(f"{name}.api.users.get_me")
body = importlib.import_module(f"{name}.models.login_body").LoginBody.from_dict({"email": "eve@example.com", "password": "correct-horse"})
base = gateway + "/uai"
answer = login.sync_detailed(client=uai.Client(base_url=base), body=body)
token = getattr(answer.parsed, "access_token", None)
if check("user-identity: eve logs in", answer.status_code == 201 and token, answer.content[:300]):
    me = get_me.sync_detailed(client=uai.AuthenticatedClient(base_url=base, token=token))
    check("user-identity: and reads her account with it", me.status_code == 200 and b"eve@example.com" in me.content, me.content[:300])

# oidc-vault: the operator's API key lists the tenants; discovery names the issuer.
name = client_package("oidc-vault", "OIDCVault")
vault = importlib.import_module(name)
list_tenants = importlib.import_module(f"{name}.api.tenants.list_tenants")
discovery = importlib.import_module(f"{name}.api.oidc.discovery_default")
base = gateway + "/vault"
tenants = list_tenants.sync_detailed(client=vault.Client(base_url=base, headers={"X-API-Key": vault_key}))
check("oidc-vault: the operator key lists the tenants", tenants.status_code == 200 and b"default" in tenants.content, tenants.content[:300])
found = discovery.sync_detailed(client=vault.Client(base_url=base))
check("oidc-vault: discovery names the issuer", found.status_code == 200 and b'"issuer"' in found.content, found.content[:300])

# identity-associations: a v2 account (the one import-sydent brought) asks for the hash details.
name = client_package("identity-associations", "IdentityAssociations")
matrix = importlib.import_module(name)
hash_details = importlib.import_module(f"{name}.api.associations_v2.hash_details_v2")
details = hash_details.sync_detailed(client=matrix.AuthenticatedClient(base_url=gateway, token="sydentaccesstoken"))
check("identity-associations: an account token gets the lookup pepper", details.status_code == 200 and b"lookup_pepper" in details.content,
      details.content[:300])

print(f"python clients: {failures} failed")
sys.exit(1 if failures else 0)
