"""deploy/: the Compose file, the Kubernetes manifests and the Grafana provisioning parse and
agree with the rest of the repository. No cluster and no Docker engine are needed:
``docker compose config`` and ``kubectl kustomize`` run only where those clients work.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from auxstream.policy import load_policy
from auxstream.stream.settings import Settings
from auxstream.stream.topics import declared

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "k8s" / "base"


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def k8s_resources() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [doc for name in kustomization["resources"] for doc in documents(K8S / name)]


# ------------------------------------------------------------------------------- compose
def test_compose_has_kafka_two_workers_prometheus_and_grafana() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    workers = [name for name, s in services.items() if s.get("command") == ["worker"]]
    assert sorted(workers) == ["worker-1", "worker-2"]
    for name in workers:
        env = services[name]["environment"]
        assert env["AUXSTREAM_WEB_URL"] == f"http://{name}:6066"
        assert any(v.endswith(":/var/lib/auxstream") for v in services[name]["volumes"])
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source} is missing"
    scrape = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = scrape["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == [f"{name}:6066" for name in sorted(workers)]


def test_docker_compose_config_where_the_client_works() -> None:
    docker = shutil.which("docker")
    probe = (
        subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30, check=False
        )
        if docker
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("no working `docker compose` client here; the YAML is checked above")
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# ------------------------------------------------------------------------------- k8s
def test_every_manifest_parses_with_kind_and_name() -> None:
    resources = k8s_resources()
    kinds = {doc["kind"] for doc in resources}
    assert {"StatefulSet", "Service", "ServiceMonitor", "PrometheusRule", "KafkaTopic"} <= kinds
    for doc in resources:
        assert doc["apiVersion"] and doc["metadata"]["name"], doc


def test_statefulset_has_a_volume_readiness_and_graceful_shutdown() -> None:
    (sts,) = [d for d in k8s_resources() if d["kind"] == "StatefulSet"]
    pod = sts["spec"]["template"]["spec"]
    (worker,) = pod["containers"]
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert worker["readinessProbe"]["httpGet"]["path"] == "/health"
    assert worker["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert pod["terminationGracePeriodSeconds"] >= 60
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in worker["volumeMounts"]}
    assert "data" in claims and mounts["data"] == env["AUXSTREAM_DATA_DIR"]
    assert env["AUXSTREAM_STORE"] == "rocksdb://"
    # Every AUXSTREAM_ variable is a real setting (the worker refuses unknown ones).
    names = {f"AUXSTREAM_{field.upper()}" for field in Settings.model_fields}
    assert {n for n in env if n.startswith("AUXSTREAM_")} <= names
    replicas, partitions = sts["spec"]["replicas"], int(env["AUXSTREAM_PARTITIONS"])
    assert 1 <= replicas <= partitions


def test_kafka_topics_match_the_declaration() -> None:
    topics = {d["spec"]["topicName"]: d for d in k8s_resources() if d["kind"] == "KafkaTopic"}
    (sts,) = [d for d in k8s_resources() if d["kind"] == "StatefulSet"]
    env = {
        e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    settings = Settings(
        partitions=int(env["AUXSTREAM_PARTITIONS"]),
        replication=int(env["AUXSTREAM_REPLICATION"]),
    )
    specs = declared(settings)
    assert set(topics) == {spec.name for spec in specs}
    for spec in specs:
        resource = topics[spec.name]["spec"]
        assert resource["partitions"] == spec.partitions, spec.name
        assert resource["replicas"] == spec.replication, spec.name
        assert resource["config"] == spec.config, spec.name
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "k8s_topics.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr


def test_prometheus_rule_is_the_rules_of_deploy_prometheus() -> None:
    (rule,) = [d for d in k8s_resources() if d["kind"] == "PrometheusRule"]
    groups = [
        group
        for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yaml"))
        for group in yaml.safe_load(path.read_text())["groups"]
    ]
    assert rule["spec"]["groups"] == groups
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "k8s_rules.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_kustomize_builds_where_kubectl_is_present() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed; the manifests are parsed above")
    done = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    built = [d for d in yaml.safe_load_all(done.stdout) if d]
    (config,) = [d for d in built if d["kind"] == "ConfigMap"]
    assert config["metadata"]["name"].startswith("auxstream-policy-")  # content-hashed
    (sts,) = [d for d in built if d["kind"] == "StatefulSet"]
    volumes = sts["spec"]["template"]["spec"]["volumes"]
    assert any(v.get("configMap", {}).get("name") == config["metadata"]["name"] for v in volumes)


def test_deployed_policies_load_and_match() -> None:
    compose_policy = DEPLOY / "compose" / "policy.yaml"
    k8s_policy = K8S / "policy.yaml"
    assert load_policy(compose_policy).version == load_policy(k8s_policy).version


# ------------------------------------------------------------------------------- grafana
def test_grafana_provisioning_and_dashboards() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (source,) = documents(provisioning / "datasources" / "prometheus.yaml")[0]["datasources"]
    (provider,) = documents(provisioning / "dashboards" / "auxstream.yaml")[0]["providers"]
    compose = yaml.safe_load(COMPOSE.read_text())["services"]["grafana"]["volumes"]
    assert any(v.endswith(":" + provider["options"]["path"] + ":ro") for v in compose)
    uids = set()
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        assert board["uid"] not in uids
        uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in board["panels"]:
            assert panel["targets"], (path.name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${datasource}"
    assert source["uid"] == "prometheus" and len(uids) == 2
