"""The Helm chart under deploy/: rendered offline by Helm's own engine (helm-python-sdk binds
Helm's Go SDK), every built-in manifest validated against the Kubernetes schemas
(kubernetes-validate, strict), and the fields the architecture depends on asserted. KEDA's and
KubeRay's custom resources have no schema here (their CRDs are not packaged for Python): their
key fields are asserted instead.

Helm's engine is a Go runtime; it renders in a child process so that runtime (its signal
handlers, its threads) never lives inside the test process beside llama.cpp and ONNX Runtime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

pytest.importorskip("helm_python")

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "gureum"
K8S = "1.30.0"
CUSTOM = {("keda.sh/v1alpha1", "ScaledObject"), ("ray.io/v1", "RayCluster")}


RENDER = """
import json, sys
import helm_python as helm
chart_dir, values = sys.argv[1], json.load(sys.stdin)
try:
    with helm.Chart.load(chart_dir) as chart:
        print(json.dumps({"files": chart.render(values, name="g", namespace="ai")}))
except helm.HelmRenderError as exc:
    print(json.dumps({"render_error": str(exc)}))
"""


class HelmRenderError(Exception):
    """The chart refused the values (a template's `fail` or a missing required value)."""


def render(values: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """kind → manifest, every built-in one validated."""
    proc = subprocess.run([sys.executable, "-c", RENDER, str(CHART)], input=json.dumps(values or {}),
                          capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(proc.stdout)
    if "render_error" in result:
        raise HelmRenderError(result["render_error"])
    files: dict[str, str] = result["files"]
    out: dict[str, dict[str, Any]] = {}
    for text in files.values():
        for doc in yaml.safe_load_all(text):
            if not doc:
                continue
            if (doc["apiVersion"], doc["kind"]) not in CUSTOM:
                kubernetes_validate.validate(doc, K8S, strict=True)
            worker = doc["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "worker"
            key = f"{doc['kind']}/worker" if worker else doc["kind"]
            assert key not in out, f"two {key}s"
            out[key] = doc
    return out


def test_default_render_is_valid_and_stateless() -> None:
    docs = render()
    assert set(docs) == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    dep = docs["Deployment"]["spec"]
    assert "replicas" not in dep  # the HPA owns the count
    pod = dep["template"]["spec"]
    [api] = pod["containers"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    env = {e["name"]: e for e in api["env"]}
    for name, key in (("GUREUM_DATABASE_URL", "database-url"), ("GUREUM_REDIS_URL", "redis-url"),
                      ("GUREUM_ADMIN_KEY", "admin-key")):
        assert env[name]["valueFrom"]["secretKeyRef"] == {"name": "gureum-store", "key": key}
    assert {v["name"]: v for v in pod["volumes"]}["data"] == {"name": "data", "emptyDir": {}}
    assert pod["initContainers"][0]["args"] == ["check", "/etc/gureum/gureum.yaml", "--fail-on", "error"]
    assert pod["terminationGracePeriodSeconds"] == 30
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == docs["Deployment"]["metadata"]["name"]
    assert hpa["metrics"][0]["pods"]["metric"]["name"] == "gureum_in_flight_requests"
    assert hpa["metrics"][0]["pods"]["target"]["averageValue"] == "200"
    config = yaml.safe_load(docs["ConfigMap"]["data"]["gureum.yaml"])
    assert "database_url" not in config and "admin_key" not in config


def test_config_map_is_a_valid_gureum_yaml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gureum.config import load_settings

    docs = render({"config": {"log_format": "json", "shutdown_grace": 40,
                              "governance": {"tenants": {"acme": {"residency": ["kr-only"]}}}}})
    path = tmp_path / "gureum.yaml"
    path.write_text(docs["ConfigMap"]["data"]["gureum.yaml"], encoding="utf-8")
    monkeypatch.setenv("GUREUM_DATABASE_URL", "postgresql://g@db/g")
    assert load_settings(path).governance.tenants["acme"].residency == ["kr-only"]
    assert docs["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 50


def test_keda_instead_of_hpa() -> None:
    docs = render({"autoscaling": {"hpa": {"enabled": False}, "keda": {"enabled": True}}})
    assert "HorizontalPodAutoscaler" not in docs
    so = docs["ScaledObject"]["spec"]
    assert so["scaleTargetRef"]["name"] == docs["Deployment"]["metadata"]["name"]
    [trigger] = so["triggers"]
    assert trigger["type"] == "prometheus" and "gureum_in_flight_requests" in trigger["metadata"]["query"]
    assert 'namespace="ai"' in trigger["metadata"]["query"] and trigger["metadata"]["threshold"] == "200"


def test_fixed_replicas_without_autoscaler() -> None:
    docs = render({"autoscaling": {"hpa": {"enabled": False}}, "replicaCount": 3})
    assert docs["Deployment"]["spec"]["replicas"] == 3 and "HorizontalPodAutoscaler" not in docs


def test_both_autoscalers_refused() -> None:
    with pytest.raises(HelmRenderError, match="enable one autoscaler"):
        render({"autoscaling": {"keda": {"enabled": True}}})


def test_ray_cluster_behind_its_flag() -> None:
    docs = render({"ray": {"enabled": True}})
    ray = docs["RayCluster"]["spec"]
    assert ray["headGroupSpec"]["template"]["spec"]["containers"][0]["image"].startswith("rayproject/ray:")
    [workers] = ray["workerGroupSpecs"]
    assert (workers["minReplicas"], workers["maxReplicas"]) == (0, 4)


def test_workers_share_their_checkpoints_and_take_no_traffic() -> None:
    docs = render({"workers": {"enabled": True, "replicas": 3, "concurrency": 4, "checkpointsClaim": "jobs-rwx"}})
    worker = docs["Deployment/worker"]
    pod = worker["spec"]["template"]["spec"]
    assert worker["spec"]["replicas"] == 3 and pod["containers"][0]["args"] == ["worker", "--concurrency", "4"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"] == {"claimName": "jobs-rwx"}
    labels = worker["spec"]["template"]["metadata"]["labels"]
    selector = docs["Service"]["spec"]["selector"]
    assert not all(labels.get(k) == v for k, v in selector.items())  # the API Service never routes to a worker
    with pytest.raises(HelmRenderError, match="checkpointsClaim"):
        render({"workers": {"enabled": True}})
    scaled = render({"workers": {"enabled": True, "checkpointsClaim": "jobs-rwx", "keda": {"enabled": True}}})
    assert "replicas" not in scaled["Deployment/worker"]["spec"]
    so = scaled["ScaledObject/worker"]["spec"]
    assert so["scaleTargetRef"]["name"] == scaled["Deployment/worker"]["metadata"]["name"]
    assert 'gureum_jobs{state="queued"' in so["triggers"][0]["metadata"]["query"] and so["minReplicaCount"] == 0


def test_secret_only_when_asked_and_complete() -> None:
    assert "Secret" not in render()
    values = {"secrets": {"create": True, "databaseUrl": "postgresql://g:pw@db/g", "redisUrl": "redis://r:6379/0",
                          "adminKey": "sk-admin"}}
    secret = render(values)["Secret"]
    assert secret["stringData"] == {"database-url": "postgresql://g:pw@db/g", "redis-url": "redis://r:6379/0",
                                    "admin-key": "sk-admin"}
    with pytest.raises(HelmRenderError, match="secrets.redisUrl is required"):
        render({"secrets": {"create": True, "databaseUrl": "x", "adminKey": "y"}})


def test_a_broken_manifest_would_be_caught() -> None:
    """The validator is strict: the test above would fail on a field Kubernetes does not know."""
    dep = render()["Deployment"]
    dep["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S, strict=True)


def test_dockerfile_matches_the_package() -> None:
    """docker cannot build on this machine; this checks what can be checked without it."""
    import tomllib

    text = (CHART.parents[1] / "Dockerfile").read_text(encoding="utf-8")
    project = tomllib.loads((CHART.parents[2] / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert text.count("FROM python:3.11-slim") == 2 and project["requires-python"] == ">=3.11"
    assert 'ENTRYPOINT ["gureum"]' in text and "gureum" in project["scripts"]
    assert "EXPOSE 8000" in text and "GUREUM_HOST=0.0.0.0" in text and "/readyz" in text
