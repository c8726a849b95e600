"""cluster/: each file carries what its system requires, and the files agree with each other and the repo.

The launcher config is validated the way `ray up` validates it (Ray's ray-schema.json, then Ray's own
checks); the RayJob's runtimeEnvYAML by Ray's RuntimeEnv; the rest by the fields the KubeRay CRD
(ray.io/v1) and Slurm require. Versions must match constraints.txt, volumes must line up across pods.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
LAUNCHER = CLUSTER / "ray_cluster_gpu.yaml"
RAYJOB = CLUSTER / "kuberay_rayjob.yaml"
RUNS_PVC = CLUSTER / "kuberay_runs_pvc.yaml"
SBATCH = CLUSTER / "slurm_ray.sbatch"

# (CPU, GPU) per AWS instance type; the launcher's `resources` must match the instance it names.
AWS_GPU_INSTANCES = {"p4d.24xlarge": (96, 8), "p4de.24xlarge": (96, 8), "p5.48xlarge": (192, 8),
                     "p5e.48xlarge": (192, 8), "g6e.48xlarge": (192, 8)}
SUBMISSION_MODES = {"K8sJobMode", "HTTPMode", "InteractiveMode", "SidecarMode"}
_CONFIG_REF_RE = re.compile(r"\bconfigs/[\w.-]+\.ya?ml\b")
_SECRET_NAME_RE = re.compile(r"KEY|TOKEN|SECRET|PASSWORD", re.IGNORECASE)


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _ray_pin() -> str:
    pins = dict(line.split("==", 1) for line in (REPO / "constraints.txt").read_text().split()
                if "==" in line and not line.startswith("#"))
    return pins["ray"]


@pytest.fixture(scope="module")
def launcher() -> dict[str, Any]:
    return _load(LAUNCHER)


@pytest.fixture(scope="module")
def rayjob() -> dict[str, Any]:
    return _load(RAYJOB)


# ---------------------------------------------------------------- Ray cluster launcher


def test_launcher_passes_ray_up_validation(launcher: dict[str, Any]) -> None:
    """The same steps `ray up` runs before touching the cloud: schema, then defaults + Ray's own checks."""
    import jsonschema  # a dependency of ray itself
    import ray
    from ray.autoscaler._private.util import prepare_config, validate_config

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(launcher, schema)
    validate_config(prepare_config(launcher))


def test_ray_schema_catches_a_misspelt_field(launcher: dict[str, Any]) -> None:
    # Near miss: proves the validation above would see a typo (the schema forbids unknown keys).
    import jsonschema
    import ray

    schema = json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())
    bad = dict(launcher, head_start_ray_command=launcher["head_start_ray_commands"])
    with pytest.raises(jsonschema.ValidationError, match="head_start_ray_command"):
        jsonschema.validate(bad, schema)


def test_launcher_provider_auth_and_node_types(launcher: dict[str, Any]) -> None:
    assert launcher["cluster_name"]
    assert launcher["provider"]["type"] == "aws" and launcher["provider"]["region"]
    assert launcher["auth"]["ssh_user"]
    types = launcher["available_node_types"]
    assert launcher["head_node_type"] in types
    workers = {name: t for name, t in types.items() if name != launcher["head_node_type"]}
    gpu_workers = {name: t for name, t in workers.items() if t["resources"].get("GPU", 0) >= 1}
    assert gpu_workers, "no worker node type offers a GPU"
    for name, t in gpu_workers.items():
        assert 0 <= t["min_workers"] <= t["max_workers"] <= launcher["max_workers"], name
        cpu_gpu = AWS_GPU_INSTANCES.get(t["node_config"]["InstanceType"])
        assert cpu_gpu is not None, f"{name}: add {t['node_config']['InstanceType']} to AWS_GPU_INSTANCES"
        assert (t["resources"]["CPU"], t["resources"]["GPU"]) == cpu_gpu, f"{name}: resources don't match the instance"


def test_launcher_start_commands_join_the_head(launcher: dict[str, Any]) -> None:
    head = " ".join(launcher["head_start_ray_commands"])
    worker = " ".join(launcher["worker_start_ray_commands"])
    port = re.search(r"ray start --head\b.*?--port=(\d+)", head)
    assert port, head
    assert f"ray start --address=$RAY_HEAD_IP:{port.group(1)}" in worker
    # Token auth is only consistent when every node sets the same mode.
    assert "export RAY_AUTH_MODE=token" in head and "export RAY_AUTH_MODE=token" in worker
    # The secrets file is exported before `ray start`, so the job and its tasks inherit it.
    secrets = [remote for remote, local in launcher["file_mounts"].items() if local.endswith("cluster.env")]
    assert len(secrets) == 1
    secrets_in_container = secrets[0].replace("/home/ray", "~")
    for cmd in (head, worker):
        assert cmd.index(f". {secrets_in_container}") < cmd.index("ray start")


def test_launcher_installs_the_checkout_by_the_one_route(launcher: dict[str, Any]) -> None:
    repo_mount = [remote for remote, local in launcher["file_mounts"].items() if local == "."]
    assert len(repo_mount) == 1
    repo_in_container = repo_mount[0].replace("/home/ray", "~")
    # The GPU environment comes from cluster/install_gpu.sh alone (tests/cluster/test_install_route.py).
    assert launcher["setup_commands"] == [f"cd {repo_in_container} && bash cluster/install_gpu.sh"]
    assert ".gitignore" in launcher["rsync_filter"]  # keeps .venv/ and runs/ out of the sync
    assert launcher["file_mounts"]["/home/ray/.ray/auth_token"] == "~/.ray/auth_token"


def test_launcher_image_matches_the_pinned_ray(launcher: dict[str, Any]) -> None:
    assert launcher["docker"]["image"].startswith(f"rayproject/ray:{_ray_pin()}-")


def test_launcher_mounts_the_shared_run_directory(launcher: dict[str, Any]) -> None:
    run_options = " ".join(launcher["docker"]["run_options"])
    assert "-v /mnt/af-rl-runs:/mnt/af-rl-runs" in run_options
    assert any("/mnt/af-rl-runs" in c and "mount" in c for c in launcher["initialization_commands"])


# ---------------------------------------------------------------- KubeRay RayJob


def _pod_groups(rayjob: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    spec = rayjob["spec"]["rayClusterSpec"]
    groups = [("head", spec["headGroupSpec"])]
    groups += [(g["groupName"], g) for g in spec["workerGroupSpecs"]]
    return groups


def _ray_container(group: dict[str, Any]) -> dict[str, Any]:
    return group["template"]["spec"]["containers"][0]  # KubeRay runs Ray in the first container


def test_rayjob_kind_and_lifecycle(rayjob: dict[str, Any]) -> None:
    assert rayjob["apiVersion"] == "ray.io/v1" and rayjob["kind"] == "RayJob"
    assert rayjob["metadata"]["name"]
    spec = rayjob["spec"]
    assert spec["submissionMode"] in SUBMISSION_MODES
    assert spec["shutdownAfterJobFinishes"] is True
    # KubeRay ignores the TTL unless shutdownAfterJobFinishes is set.
    assert isinstance(spec["ttlSecondsAfterFinished"], int) and spec["ttlSecondsAfterFinished"] > 0
    assert spec["rayClusterSpec"]["authOptions"]["mode"] == "token"


def test_rayjob_entrypoint_trains_an_existing_config_into_a_shared_volume(rayjob: dict[str, Any]) -> None:
    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert argv[:3] == ["python", "rl/train.py", "--config"]
    config = argv[3]
    assert config.startswith("configs/") and (REPO / config).is_file(), config
    out = [a.split("=", 1)[1] for a in argv[4:] if a.startswith("rl.output_dir=")]
    assert len(out) == 1 and out[0].startswith("/"), "rl.output_dir must be absolute"
    for name, group in _pod_groups(rayjob):
        mounts = [m["mountPath"] for m in _ray_container(group)["volumeMounts"]]
        assert any(out[0] == m or out[0].startswith(m.rstrip("/") + "/") for m in mounts), \
            f"{name}: rl.output_dir {out[0]} is not on a mounted volume"


def test_rayjob_runtime_env_is_valid_and_free_of_secrets(rayjob: dict[str, Any]) -> None:
    from ray.runtime_env import RuntimeEnv

    env = yaml.safe_load(rayjob["spec"]["runtimeEnvYAML"])
    assert isinstance(env, dict)
    RuntimeEnv(**env)  # Ray's own validation: working_dir URI, pip fields, env_vars types
    assert env["working_dir"].endswith(".zip")
    # Dependencies come with the image (cluster/Dockerfile.gpu), never from a per-job pip list.
    assert "pip" not in env and "uv" not in env and "conda" not in env
    # Runtime envs are stored and shown in plain text; secrets come from the pods' Secret instead.
    assert not [k for k in env.get("env_vars", {}) if _SECRET_NAME_RE.search(k)]


def test_rayjob_versions_match_the_pinned_ray(rayjob: dict[str, Any]) -> None:
    ray_version = _ray_pin()
    assert rayjob["spec"]["rayClusterSpec"]["rayVersion"] == ray_version
    base = [line.split()[1] for line in (CLUSTER / "Dockerfile.gpu").read_text().splitlines()
            if line.startswith("FROM ")]
    assert base == [f"rayproject/ray:{ray_version}-py311-gpu"]  # the image every pod runs is built on it
    for name, group in _pod_groups(rayjob):
        assert _ray_container(group)["image"] == "REGISTRY/af-rl-gpu:COMMIT_SHA", name


def test_rayjob_groups_have_string_start_params_and_gpu_workers(rayjob: dict[str, Any]) -> None:
    for name, group in _pod_groups(rayjob):
        params = group["rayStartParams"]  # required by the CRD, may be empty
        assert isinstance(params, dict) and all(isinstance(v, str) for v in params.values()), name
    workers = rayjob["spec"]["rayClusterSpec"]["workerGroupSpecs"]
    gpu_groups = [g for g in workers if int(_ray_container(g)["resources"]["limits"].get("nvidia.com/gpu", 0)) >= 1]
    assert gpu_groups
    for g in gpu_groups:
        res = _ray_container(g)["resources"]
        # Kubernetes rejects extended resources whose request differs from the limit.
        assert res["requests"]["nvidia.com/gpu"] == res["limits"]["nvidia.com/gpu"]
        assert g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        shm = [m for m in _ray_container(g)["volumeMounts"] if m["mountPath"] == "/dev/shm"]
        volumes = {v["name"]: v for v in g["template"]["spec"]["volumes"]}
        assert len(shm) == 1 and volumes[shm[0]["name"]]["emptyDir"]["medium"] == "Memory"


def test_rayjob_volumes_and_secrets_line_up_across_pods(rayjob: dict[str, Any]) -> None:
    claims: dict[str, set[tuple[str, str]]] = {}
    secrets: dict[str, list[str]] = {}
    for name, group in _pod_groups(rayjob):
        pod = group["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        container = _ray_container(group)
        for m in container["volumeMounts"]:
            assert m["name"] in volumes, f"{name}: mount {m['name']} has no volume"
            pvc = volumes[m["name"]].get("persistentVolumeClaim")
            if pvc:
                claims[name] = claims.get(name, set()) | {(pvc["claimName"], m["mountPath"])}
        secrets[name] = [e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e]
    # Every pod mounts the same claim at the same path, so rl.output_dir means one place everywhere.
    assert len({frozenset(c) for c in claims.values()}) == 1 and len(claims) == len(_pod_groups(rayjob))
    assert len({tuple(s) for s in secrets.values()}) == 1 and next(iter(secrets.values()))
    pvc = _load(RUNS_PVC)
    assert pvc["kind"] == "PersistentVolumeClaim"
    assert {(pvc["metadata"]["name"], "/mnt/af-rl-runs")} == next(iter(claims.values()))
    assert "ReadWriteMany" in pvc["spec"]["accessModes"]


# ---------------------------------------------------------------- Slurm


def test_sbatch_is_valid_bash() -> None:
    proc = subprocess.run(["bash", "-n", str(SBATCH)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_sbatch_directives_come_before_the_first_command() -> None:
    # sbatch stops reading #SBATCH lines at the first command; later ones would be silently ignored.
    lines = SBATCH.read_text().splitlines()
    first_cmd = next(i for i, line in enumerate(lines) if line.strip() and not line.startswith("#"))
    directives = [i for i, line in enumerate(lines) if line.startswith("#SBATCH")]
    assert directives and max(directives) < first_cmd
    options = {lines[i].split()[1].split("=")[0] for i in directives}
    assert {"--nodes", "--ntasks-per-node", "--time"} <= options
    assert options & {"--gpus-per-node", "--gres"}


def test_sbatch_starts_ray_and_submits_training() -> None:
    text = SBATCH.read_text()
    assert re.search(r"srun [^\n]*--nodelist=\"\$HEAD_NODE\"\s*\\\n\s*ray start --head\b", text)
    assert re.search(r"srun [^\n]*--exclude=\"\$HEAD_NODE\"\s*\\\n\s*ray start --address=\"\$GCS_ADDRESS\"", text)
    assert "NODE_ARGS=(--block" in text  # each Ray node lives exactly as long as its srun step
    assert re.search(r'ray job submit --address="\$DASHBOARD_URL" --working-dir=\. \\\n\s*-- python rl/train.py '
                     r'--config "\$CONFIG" "rl.output_dir=\$RUNS_DIR" "\$@"', text)
    assert "trap cleanup EXIT" in text


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)")
@pytest.mark.parametrize("script", ["slurm_ray.sbatch", "local_head.sh", "install_gpu.sh"])
def test_scripts_pass_shellcheck(script: str) -> None:
    proc = subprocess.run(["shellcheck", "-s", "bash", str(CLUSTER / script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


# ---------------------------------------------------------------- references into the repo


def test_every_config_named_in_cluster_exists() -> None:
    refs = {ref for path in CLUSTER.iterdir() if path.is_file()
            for ref in _CONFIG_REF_RE.findall(path.read_text(encoding="utf-8"))}
    assert "configs/demo_cpu.yaml" in refs  # the pattern still finds the default
    missing = sorted(ref for ref in refs if not (REPO / ref).is_file())
    assert not missing, f"cluster/ names configs that don't exist: {missing}"
