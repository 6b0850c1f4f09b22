#!/usr/bin/env python3
"""scim2-tester (PyPI) against the vault's SCIM API, then a scim2-client round trip of
users and groups with filters and patches. Exit status 1 on any failed check.

    scim-check.py http://127.0.0.1:18084/tenants/default/scim/v2 <X-API-Key>
"""
import sys
import uuid

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Email, Group, GroupMember, ListResponse, PatchOp, PatchOperation, SearchRequest, User
from scim2_tester import Status, check_server


def main():
    base, key = sys.argv[1], sys.argv[2]
    http = httpx2.Client(base_url=base, headers={"X-API-Key": key}, timeout=10)
    scim = SyncSCIMClient(http)
    scim.discover()
    failed = 0
    results = check_server(scim)
    for result in results:
        if result.status in (Status.ERROR, Status.CRITICAL):
            failed += 1
            print(f"  FAIL  scim2-tester {result.title}: {result.reason}")
    print(f"  scim2-tester: {len(results)} checks, {failed} failed")

    # A provisioning client's round trip, with scim2-client's own models.
    name = "rt-" + uuid.uuid4().hex[:8]
    user = scim.create(User(user_name=name, emails=[Email(value=f"{name}@example.com", primary=True, type="work")], active=True))
    found = scim.query(User, query_parameters=SearchRequest(filter=f'userName eq "{name.upper()}"'))
    checks = [
        ("the user is found by userName, case-insensitively", isinstance(found, ListResponse) and found.total_results == 1),
        ("a complex filter finds it", scim.query(User, query_parameters=SearchRequest(
            filter=f'emails[type eq "work" and value sw "{name}"] and active eq true')).total_results == 1),
    ]
    scim.modify(User, user.id, PatchOp[User](operations=[PatchOperation[User](op="replace", path="active", value=False)]))
    checks.append(("a patch deactivates it", scim.query(User, user.id).active is False))
    group = scim.create(Group(display_name=name + "-group", members=[GroupMember(value=user.id)]))
    checks.append(("the group has the user", [m.value for m in scim.query(Group, group.id).members or []] == [user.id]))
    checks.append(("the user lists the group", [g.value for g in scim.query(User, user.id).groups or []] == [group.id]))
    scim.modify(Group, group.id, PatchOp[Group](operations=[PatchOperation[Group](op="remove", path=f'members[value eq "{user.id}"]')]))
    checks.append(("a patch removes the member", not (scim.query(Group, group.id).members or [])))
    scim.delete(Group, group.id)
    scim.delete(User, user.id)
    for description, ok in checks:
        print(f"  {'ok  ' if ok else 'FAIL'}  scim2-client: {description}")
        failed += 0 if ok else 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
