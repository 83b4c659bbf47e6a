"""The Helm chart: lint, render, and check what Kubernetes would run.

Renders helm/sluice with its default values (gateway), with each values file
in helm/sluice/examples/, and through the example parent chart in
helm/examples/sidecar-app (sluice as a dependency, sidecar via the named
templates); then checks the pods: probes, preStop drain, grace period, config
mount, native sidecar, securityContext. The rendered sluice config must pass
`sluice check`, and deploy/k8s/ must equal a fresh rendering.
"""

import hashlib
import os
import re
import shutil
import subprocess

import pytest
import yaml

from deploy_env import ROOT

CHART = ROOT / "helm" / "sluice"
EXAMPLES = sorted((CHART / "examples").glob("*-values.yaml"))
PARENT_CHART = ROOT / "helm" / "examples" / "sidecar-app"
CONFIG_FILE = "/etc/sluice/sluice.yaml"


def run(cmd, **kwargs):
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=120, **kwargs)


def template(helm, *args, chart=CHART, release="sluice"):
    result = run([helm, "template", release, chart, *args])
    assert result.returncode == 0, f"helm template {' '.join(map(str, args))} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def template_error(helm, *args):
    result = run([helm, "template", "sluice", CHART, *args])
    assert result.returncode != 0, f"helm template {' '.join(map(str, args))} should have failed"
    return result.stderr


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def seconds(duration):
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", str(duration))
    assert match, f"bad duration {duration!r}"
    value, unit = int(match.group(1)), match.group(2)
    return {"ms": value / 1000, "s": value, "m": value * 60, "h": value * 3600}[unit]


def port_of(address):
    return int(address.rsplit(":", 1)[1])


class Pod:
    """A rendered workload's pod, with its sluice container and its ConfigMap."""

    def __init__(self, docs, workload):
        self.docs = docs
        self.workload = workload
        self.template = workload["spec"]["template"]
        self.spec = self.template["spec"]
        init = [c for c in self.spec.get("initContainers", []) if c["name"] == "sluice"]
        main = [c for c in self.spec["containers"] if c["name"] == "sluice"]
        assert len(init) + len(main) == 1, "exactly one sluice container per pod"
        self.sidecar = bool(init)
        self.sluice = (init or main)[0]
        mounts = [m for m in self.sluice["volumeMounts"] if CONFIG_FILE.startswith(m["mountPath"].rstrip("/") + "/")]
        assert len(mounts) == 1, f"nothing mounted where sluice reads {CONFIG_FILE}"
        self.mount = mounts[0]
        volume = [v for v in self.spec["volumes"] if v["name"] == self.mount["name"]]
        assert len(volume) == 1 and "configMap" in volume[0], "the config volume must be a ConfigMap"
        self.volume = volume[0]
        maps = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == self.volume["configMap"]["name"]]
        assert len(maps) == 1, f"ConfigMap {self.volume['configMap']['name']} is not rendered"
        self.configmap = maps[0]
        relative = CONFIG_FILE[len(self.mount["mountPath"].rstrip("/")) + 1:]
        items = self.volume["configMap"].get("items")
        key = relative
        if items:
            key = [i["key"] for i in items if i["path"] == relative][0]
        assert key in self.configmap["data"], f"the ConfigMap has no {key}"
        self.config_text = self.configmap["data"][key]
        self.config = yaml.safe_load(self.config_text)


def workloads(docs):
    return [Pod(docs, d) for d in by_kind(docs, "Deployment")]


RENDERINGS = [("default", [])] + [(p.stem, ["-f", p]) for p in EXAMPLES]


@pytest.fixture(scope="module")
def renderings(helm):
    return {name: template(helm, *args) for name, args in RENDERINGS}


@pytest.fixture(scope="module")
def parent_rendering(helm, tmp_path_factory):
    """The example application chart, with sluice as its dependency, rendered from a copy."""
    work = tmp_path_factory.mktemp("parent") / "sidecar-app"
    shutil.copytree(PARENT_CHART, work)
    chart_yaml = work / "Chart.yaml"
    chart_yaml.write_text(chart_yaml.read_text().replace("file://../../sluice", f"file://{CHART}"))
    result = run([helm, "dependency", "build", work])
    assert result.returncode == 0, result.stderr
    lint = run([helm, "lint", "--strict", work])
    assert lint.returncode == 0, lint.stdout + lint.stderr
    return template(helm, chart=work, release="shop")


def all_pods(renderings, parent_rendering):
    pods = []
    for name, docs in renderings.items():
        pods += [(name, pod) for pod in workloads(docs)]
    pods += [("parent-chart", pod) for pod in workloads(parent_rendering)]
    return pods


def test_examples_exist():
    assert any("sidecar" in p.name for p in EXAMPLES), "want helm/sluice/examples/sidecar-values.yaml"
    assert (PARENT_CHART / "Chart.yaml").is_file()


@pytest.mark.parametrize("name,args", RENDERINGS, ids=[n for n, _ in RENDERINGS])
def test_lint(helm, name, args):
    result = run([helm, "lint", "--strict", CHART, *args])
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_is_a_gateway_in_front_of_legacy(renderings):
    docs = renderings["default"]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget"} <= kinds
    assert not kinds & {"ServiceMonitor", "HorizontalPodAutoscaler"}, "optional objects are off by default"
    (pod,) = workloads(docs)
    assert not pod.sidecar
    config = pod.config
    (listener,) = config["listeners"]
    assert listener["address"] == "0.0.0.0:8080"
    (cluster,) = [c for c in config["clusters"] if c["name"] == listener["cluster"]]
    assert [b["address"] for b in cluster["backends"]] == ["legacy:80"]
    # The admin port opt-in: the kubelet's probes come from outside the pod's loopback.
    assert config["admin"]["address"] == "0.0.0.0:9901"
    (service,) = by_kind(docs, "Service")
    ports = {p["port"]: p for p in service["spec"]["ports"]}
    assert 8080 in ports and 9901 not in ports, "the Service publishes the listener, not the admin port"
    container_ports = {p["name"]: p["containerPort"] for p in pod.sluice["ports"]}
    assert container_ports[ports[8080]["targetPort"]] == 8080
    assert service["spec"]["selector"].items() <= pod.template["metadata"]["labels"].items()
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod.template["metadata"]["labels"].items()
    assert pod.workload["spec"]["replicas"] >= 2


def test_gateway_with_every_option(renderings):
    docs = renderings["gateway-full-values"]
    (pod,) = workloads(docs)
    (hpa,) = by_kind(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == pod.workload["metadata"]["name"]
    assert "replicas" not in pod.workload["spec"], "the HPA owns the replica count"
    (monitor,) = by_kind(docs, "ServiceMonitor")
    (service,) = by_kind(docs, "Service")
    admin = [p for p in service["spec"]["ports"] if p["name"] == monitor["spec"]["endpoints"][0]["port"]]
    assert admin and admin[0]["port"] == port_of(pod.config["admin"]["address"])
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (pdb,) = by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"] == {**pdb["spec"], "maxUnavailable": 1} and "minAvailable" not in pdb["spec"]


def test_probes_reach_the_admin_port(renderings, parent_rendering):
    for name, pod in all_pods(renderings, parent_rendering):
        admin = port_of(pod.config["admin"]["address"])
        c = pod.sluice
        assert c["livenessProbe"]["httpGet"] == {"path": "/live", "port": admin}, name
        assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": admin}, name
        # A startup probe on /live (not /ready: a down backend must not block the app from starting).
        assert c["startupProbe"]["httpGet"] == {"path": "/live", "port": admin}, name
        assert admin in [p["containerPort"] for p in c["ports"]], name


def prestop_script(container):
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[:2] == ["/bin/bash", "-c"], "the preStop hook runs bash (in bookworm-slim; no curl there)"
    return command[2]


def test_prestop_drains_then_waits(renderings, parent_rendering):
    for name, pod in all_pods(renderings, parent_rendering):
        script = prestop_script(pod.sluice)
        # /drain answers on the control address (loopback), not on the pod network.
        control = port_of(pod.config["admin"]["control_address"])
        assert f"/dev/tcp/127.0.0.1/{control}" in script, name
        assert "POST /drain HTTP/1.1" in script, name
        delay = seconds(pod.config.get("drain_delay", "0s"))
        waits = re.findall(r"^\s*sleep (\d+)\s*$", script, re.M)
        assert waits and int(waits[-1]) >= delay, f"{name}: preStop must wait drain_delay ({delay}s)"
        syntax = run(["bash", "-n", "-c", script])
        assert syntax.returncode == 0, f"{name}: {syntax.stderr}"


def test_control_endpoints_stay_off_the_pod_network(renderings, parent_rendering):
    for name, pod in all_pods(renderings, parent_rendering):
        admin = pod.config["admin"]
        assert admin["address"].startswith("0.0.0.0:"), name  # probes
        assert admin["control_address"].startswith("127."), name
        control = port_of(admin["control_address"])
        assert control not in [p["containerPort"] for p in pod.sluice["ports"]], name


def test_network_policy_admits_only_the_listeners_and_named_admin_peers(renderings):
    assert not by_kind(renderings["default"], "NetworkPolicy")
    docs = renderings["gateway-full-values"]
    (policy,) = by_kind(docs, "NetworkPolicy")
    (pod,) = workloads(docs)
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= pod.template["metadata"]["labels"].items()
    listeners, admin = policy["spec"]["ingress"]
    assert [p["port"] for p in listeners["ports"]] == [port_of(l["address"]) for l in pod.config["listeners"]]
    assert [p["port"] for p in admin["ports"]] == [port_of(pod.config["admin"]["address"])]
    assert admin["from"], "the admin port admits only the peers named in networkPolicy.adminFrom"


def test_admin_token_from_a_secret(helm):
    (pod,) = workloads(template(helm, "--set", "adminToken.existingSecret=sluice-admin",
                                "--set", "config.admin.control_address=null"))
    token_file = pod.config["admin"]["token_file"]
    (volume,) = [v for v in pod.spec["volumes"] if "secret" in v]
    assert volume["secret"]["secretName"] == "sluice-admin"
    (mount,) = [m for m in pod.sluice["volumeMounts"] if m["name"] == volume["name"]]
    assert token_file.startswith(mount["mountPath"] + "/") and mount["readOnly"]
    script = prestop_script(pod.sluice)
    assert f"/dev/tcp/127.0.0.1/{port_of(pod.config['admin']['address'])}" in script
    assert f"Authorization: Bearer $(cat {token_file})" in script
    assert run(["bash", "-n", "-c", script]).returncode == 0


def test_grace_period_outlasts_the_drain(renderings, parent_rendering):
    for name, pod in all_pods(renderings, parent_rendering):
        drain = seconds(pod.config.get("drain_delay", "0s")) + seconds(pod.config.get("drain_timeout", "30s"))
        assert pod.spec["terminationGracePeriodSeconds"] > drain, name


def test_config_is_mounted_where_sluice_reads_it(renderings, parent_rendering):
    for name, pod in all_pods(renderings, parent_rendering):
        assert pod.sluice["args"] == ["run", "-c", CONFIG_FILE], name
        assert pod.mount.get("readOnly") is True, name


def test_config_checksum_annotation(renderings, parent_rendering):
    for name, pod in all_pods(renderings, parent_rendering):
        annotations = pod.template["metadata"]["annotations"]
        expected = hashlib.sha256(pod.config_text.rstrip("\n").encode()).hexdigest()
        assert annotations.get("checksum/sluice-config") == expected, f"{name}: checksum is not the ConfigMap's"


def test_config_change_rolls_the_pods(helm):
    def checksum(*args):
        (pod,) = workloads(template(helm, *args))
        return pod.template["metadata"]["annotations"]["checksum/sluice-config"]

    base = checksum()
    assert checksum("--set", "config.drain_timeout=20s") != base
    assert checksum("--set", "replicaCount=5") == base


def test_security_context(renderings, parent_rendering):
    for name, pod in all_pods(renderings, parent_rendering):
        sc = pod.sluice["securityContext"]
        assert sc["runAsNonRoot"] is True, name
        assert sc["readOnlyRootFilesystem"] is True, name
        assert sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"] and "add" not in sc["capabilities"], name
        assert sc["seccompProfile"]["type"] == "RuntimeDefault", name
        assert sc["runAsUser"] == 10001, f"{name}: the image's USER"
        if not pod.sidecar:
            psc = pod.spec["securityContext"]
            assert psc["runAsNonRoot"] is True and psc["seccompProfile"]["type"] == "RuntimeDefault", name
            assert pod.spec["automountServiceAccountToken"] is False, name


def test_native_sidecar(renderings, parent_rendering):
    sidecars = [(n, p) for n, p in all_pods(renderings, parent_rendering) if p.sidecar]
    assert {n for n, _ in sidecars} >= {"sidecar-values", "parent-chart"}
    for name, pod in sidecars:
        assert pod.sluice["restartPolicy"] == "Always", f"{name}: a native sidecar is an initContainer with restartPolicy Always"
        apps = pod.spec["containers"]
        assert apps and all(c["name"] != "sluice" for c in apps), name
        # The app reaches sluice on the pod's loopback: the listener binds 127.0.0.1.
        for listener in pod.config["listeners"]:
            assert listener["address"].startswith("127.0.0.1:"), name
    demo = [p for n, p in sidecars if n == "sidecar-values"][0]
    (app,) = demo.spec["containers"]
    env = {e["name"]: e["value"] for e in app.get("env", [])}
    assert env["SLUICE_ADDRESS"] == demo.config["listeners"][0]["address"]


def test_sidecar_mode_renders_no_gateway(renderings, parent_rendering):
    for docs in (renderings["sidecar-values"], parent_rendering):
        assert not by_kind(docs, "Service") and not by_kind(docs, "PodDisruptionBudget")


def test_rendering_refuses_broken_setups(helm):
    assert "probes need the admin port" in template_error(helm, "--set", "config.admin.address=127.0.0.1:9901")
    assert "need a token" in template_error(helm, "--set", "config.admin.control_address=null")
    assert "keep it on loopback" in template_error(
        helm, "--set", "config.admin.control_address=0.0.0.0:9902")
    assert "must be larger than drain_delay + drain_timeout" in template_error(
        helm, "--set", "terminationGracePeriodSeconds=30")
    assert "schema" in template_error(helm, "--set", "mode=daemonset")
    assert "schema" in template_error(helm, "--set", "config.drain_timeout=thirty")
    assert "Kubernetes 1.29" in template_error(
        helm, "-f", CHART / "examples/sidecar-values.yaml", "--kube-version", "1.28.0")


def test_grace_period_is_computed_from_the_durations(helm):
    (pod,) = workloads(template(helm, "--set", "config.drain_delay=250ms", "--set", "config.drain_timeout=2m"))
    assert pod.spec["terminationGracePeriodSeconds"] == 1 + 120 + 10
    (pod,) = workloads(template(helm, "--set", "terminationGracePeriodSeconds=90"))
    assert pod.spec["terminationGracePeriodSeconds"] == 90


def test_notes_tell_how_to_reach_the_admin_port(helm, tmp_path):
    # helm renders NOTES.txt only on install; render it through a copy as a template.
    chart = tmp_path / "sluice"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates/NOTES.txt").read_text()
    (chart / "templates/NOTES.txt").unlink()
    (chart / "templates/_notes_under_test.tpl").write_text('{{- define "test.notes" -}}' + notes + "{{- end -}}")
    (chart / "templates/notes_under_test.yaml").write_text('notes: {{ include "test.notes" . | toJson }}\n')
    for args in ([], ["-f", CHART / "examples/sidecar-values.yaml"]):
        (doc,) = template(helm, "--show-only", "templates/notes_under_test.yaml", *args, chart=chart)
        text = doc["notes"]
        assert re.search(r"kubectl .*port-forward \S+ 9901:9901", text), text
        assert "/metrics" in text and "/ready" in text


def rendered_configs(renderings, parent_rendering):
    configs = {}
    for name, pod in all_pods(renderings, parent_rendering):
        configs[name] = pod.config_text
    return configs


def test_rendered_configs_pass_sluice_check(renderings, parent_rendering, sluice_bin, tmp_path):
    for name, text in rendered_configs(renderings, parent_rendering).items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        result = run([sluice_bin, "check", "-c", path])
        assert result.returncode == 0, f"{name}: sluice check rejects the chart's config:\n{result.stderr}{result.stdout}"


def test_plain_manifests_match_the_chart(helm, tmp_path):
    env = dict(os.environ, HELM=str(helm))
    result = run(["bash", ROOT / "deploy/scripts/render-manifests.sh", tmp_path], env=env)
    assert result.returncode == 0, result.stderr
    for name in ("gateway.yaml", "sidecar.yaml"):
        committed = ROOT / "deploy/k8s" / name
        assert committed.is_file(), f"deploy/k8s/{name} is missing: run deploy/scripts/render-manifests.sh"
        assert committed.read_text() == (tmp_path / name).read_text(), \
            f"deploy/k8s/{name} is stale: run deploy/scripts/render-manifests.sh"
