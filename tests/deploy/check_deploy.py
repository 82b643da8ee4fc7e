#!/usr/bin/env python3
"""The deploy files for a real site, checked here where they cannot run.

  check_deploy.py SOURCE_DIR GRIDCASED

deploy/compose/ (Kafka in KRaft mode, gridcased, Prometheus, Grafana) and
deploy/kubernetes/ (StatefulSet, probes, PodDisruptionBudget,
ServiceMonitor):
  * every YAML and JSON file parses;
  * Kafka: three nodes, each broker and controller, all three voters,
    replication 3, min.insync.replicas 2, unclean election off, no topic
    made by accident; the topics made with the same settings;
  * the gridcased configurations pass `gridcased --check-config` (the
    compose one with its paths pointed into this tree; the Kubernetes one
    for its keys and values, its files being the site's);
  * Prometheus' configuration and alert rules pass `promtool check`;
  * every metric an alert or the dashboard names is one gridcased exports
    (services/http/metrics.cc), and the dashboard's panels have queries;
  * Kubernetes: a volume per pod, /healthz and /readyz probes on the port
    the container declares, a PodDisruptionBudget and a ServiceMonitor that
    select the pods, a Service port the ServiceMonitor names, no privilege.
Exit 1 listing every problem.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

problems = []


def check(ok, what):
    if not ok:
        problems.append(what)


def load_yaml_all(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def check_config(gridcased, text, only_syntax):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        run = subprocess.run([gridcased, "--check-config", path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    lines = [l for l in run.stderr.splitlines() if l.strip()]
    if only_syntax:
        return [l for l in lines if "not a gridcased option" in l or "Could not convert" in l
                or "not in range" in l or "is not" in l and "exist" not in l]
    return lines if run.returncode != 0 else []


def exported_metrics(root):
    with open(os.path.join(root, "services/http/metrics.cc"), encoding="utf-8") as f:
        source = f.read()
    names = set(re.findall(r'"((?:gridcase|process)_[a-z0-9_]+)"', source))
    out = set(names)
    for n in names:
        out |= {n + "_bucket", n + "_sum", n + "_count"}
    return out | {"up"}


def metric_names(expr):
    return set(re.findall(r"\b((?:gridcase|process)_[a-z0-9_]+)\b", expr))


def check_compose(root, gridcased, exported):
    base = os.path.join(root, "deploy/compose")
    compose = load_yaml_all(os.path.join(base, "docker-compose.yml"))[0]
    services = compose["services"]
    nodes = [s for n, s in services.items() if n.startswith("kafka-")]
    check(len(nodes) == 3, f"compose: {len(nodes)} Kafka nodes, not 3")
    for node in nodes:
        env = node["environment"]
        check("broker" in env["KAFKA_PROCESS_ROLES"] and "controller" in env["KAFKA_PROCESS_ROLES"],
              "compose: a Kafka node is not both broker and controller (KRaft)")
        check(len(env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")) == 3,
              "compose: the controller quorum is not the three nodes")
        check(int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3, "compose: replication is not 3")
        check(int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2, "compose: min.insync.replicas is not 2")
        check(str(env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"]).lower() == "false",
              "compose: unclean leader election is not off")
        check(str(env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]).lower() == "false",
              "compose: topics may be made by accident")
        check(int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) == 3,
              "compose: the consumer offsets are not replicated 3 times")
    made = " ".join(services["topics"]["command"])
    for want in ("--replication-factor 3", "min.insync.replicas=2",
                 "unclean.leader.election.enable=false"):
        check(want in made, f"compose: the topics are not made with {want}")
    # gridcased's configuration, its paths pointed into this tree.
    with open(os.path.join(base, "gridcased.toml"), encoding="utf-8") as f:
        toml = f.read()
    toml = toml.replace("/etc/gridcase/workflows", os.path.join(root, "deploy/workflows"))
    toml = toml.replace("/etc/gridcase/principals.json", os.path.join(base, "principals.json"))
    for line in check_config(gridcased, toml, only_syntax=False):
        problems.append(f"compose: gridcased.toml: {line}")
    mounted = " ".join(services["gridcased"]["volumes"])
    for f in ("gridcased.toml", "principals.json"):
        check(f in mounted, f"compose: {f} is not mounted into gridcased")
    # Prometheus.
    prom = os.path.join(base, "prometheus/prometheus.yml")
    run = subprocess.run(["promtool", "check", "config", prom], capture_output=True, text=True)
    check(run.returncode == 0, f"compose: promtool check config: {run.stdout}{run.stderr}")
    targets = load_yaml_all(prom)[0]["scrape_configs"][0]["static_configs"][0]["targets"]
    check("gridcased:9464" in targets, "compose: Prometheus does not scrape gridcased:9464")
    check("0.0.0.0:9464" in toml, "compose: gridcased's HTTP listener is not on 9464")
    alerts = os.path.join(base, "prometheus/alerts.yml")
    run = subprocess.run(["promtool", "check", "rules", alerts], capture_output=True, text=True)
    check(run.returncode == 0, f"compose: promtool check rules: {run.stdout}{run.stderr}")
    for group in load_yaml_all(alerts)[0]["groups"]:
        for rule in group["rules"]:
            for name in metric_names(rule["expr"]) - exported:
                problems.append(f"alert {rule['alert']}: {name} is not a metric gridcased exports")
    # Grafana.
    with open(os.path.join(base, "grafana/dashboards/gridcase.json"), encoding="utf-8") as f:
        dashboard = json.load(f)
    check(len(dashboard["panels"]) >= 10, "dashboard: fewer than ten panels")
    for panel in dashboard["panels"]:
        check(panel.get("targets"), f"dashboard: panel {panel.get('title')} has no query")
        for target in panel.get("targets", []):
            for name in metric_names(target["expr"]) - exported:
                problems.append(f"dashboard panel {panel['title']}: {name} is not exported")
    for sub in ("datasources/prometheus.yml", "dashboards/gridcase.yml"):
        load_yaml_all(os.path.join(base, "grafana/provisioning", sub))


def check_kubernetes(root, gridcased):
    docs = load_yaml_all(os.path.join(root, "deploy/kubernetes/gridcased.yaml"))
    by_kind = {d["kind"]: d for d in docs}
    missing = [k for k in ("StatefulSet", "Service", "PodDisruptionBudget", "ServiceMonitor",
                           "ConfigMap") if k not in by_kind]
    for kind in missing:
        problems.append(f"kubernetes: no {kind}")
    if missing:
        return
    sts = by_kind["StatefulSet"]
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    check(sts["spec"].get("volumeClaimTemplates"), "kubernetes: no volume per pod")
    container = sts["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"] for p in container["ports"]}
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        check(get.get("path") == path, f"kubernetes: {probe} is not on {path}")
        check(get.get("port") in ports, f"kubernetes: {probe} names a port the container lacks")
    sc = container.get("securityContext", {})
    check(sc.get("allowPrivilegeEscalation") is False, "kubernetes: privilege escalation allowed")
    check(sc.get("capabilities", {}).get("drop") == ["ALL"], "kubernetes: capabilities kept")
    check(sts["spec"]["template"]["spec"].get("securityContext", {}).get("runAsNonRoot") is True,
          "kubernetes: may run as root")
    for kind in ("PodDisruptionBudget", "ServiceMonitor", "Service"):
        spec = by_kind[kind]["spec"]
        selector = spec["selector"].get("matchLabels", spec["selector"])
        check(all(pod_labels.get(k) == v for k, v in selector.items()) if kind != "ServiceMonitor"
              else all(by_kind["Service"]["metadata"]["labels"].get(k) == v
                       for k, v in selector.items()),
              f"kubernetes: the {kind}'s selector does not match")
    service_ports = {p["name"] for p in by_kind["Service"]["spec"]["ports"]}
    for endpoint in by_kind["ServiceMonitor"]["spec"]["endpoints"]:
        check(endpoint["port"] in service_ports, "kubernetes: the ServiceMonitor names no port")
        check(endpoint["path"] == "/metrics", "kubernetes: the ServiceMonitor scrapes elsewhere")
    toml = by_kind["ConfigMap"]["data"]["gridcased.toml"]
    for line in check_config(gridcased, toml, only_syntax=True):
        problems.append(f"kubernetes: gridcased.toml: {line}")


def main():
    root, gridcased = sys.argv[1], sys.argv[2]
    exported = exported_metrics(root)
    check_compose(root, gridcased, exported)
    check_kubernetes(root, gridcased)
    for p in problems:
        print(p)
    print(f"deploy files: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
