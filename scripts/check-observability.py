#!/usr/bin/env python3
"""deploy/observability checked offline: the alert rules and every dashboard query parse
(promtool, the dashboard's queries as recording rules), and every metric they read is one
the services export (its name appears in the Swift sources).

    check-observability.py PROMTOOL
"""
import json
import pathlib
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROMTOOL = sys.argv[1]
# Built from namespace, name and unit in HTTPMetrics, so not one literal in the sources.
COMPOSED = {"http_requests_total", "http_request_duration_seconds"}
failures = 0


def check(description, ok, detail=""):
    global failures
    print(f"  {'ok   ' if ok else 'FAIL '} {description}{'' if ok else ' ' + str(detail)}")
    failures += 0 if ok else 1


def promtool(path):
    result = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    return result.returncode == 0, (result.stdout + result.stderr)[-800:]


alerts_path = ROOT / "deploy/observability/alerts.yaml"
check("deploy/observability/alerts.yaml passes promtool check rules", *promtool(alerts_path))
dashboard = json.loads((ROOT / "deploy/observability/dashboard.json").read_text())
queries = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as rules:
    yaml.safe_dump({"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{index}", "expr": query} for index, query in enumerate(queries)]}]}, rules)
check(f"the dashboard's {len(queries)} queries parse (promtool)", *promtool(rules.name))

alerts = yaml.safe_load(alerts_path.read_text())
expressions = queries + [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]
sources = "\n".join(path.read_text() for path in list(ROOT.glob("Shared/**/*.swift")) + list(ROOT.glob("Services/*/Sources/**/*.swift")))
names = set()
for expression in expressions:
    for name in re.findall(r"\b((?:http|suite|process|vault|uai)_[a-z_]+)\b", expression):
        names.add(re.sub(r"_(bucket|sum|count)$", "", name))
unknown = sorted(name for name in names if name not in COMPOSED and f'"{name}"' not in sources)
check(f"every metric they read ({len(names)}) is exported by a service", not unknown, unknown)
sys.exit(1 if failures else 0)
