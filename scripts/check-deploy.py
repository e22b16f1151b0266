#!/usr/bin/env python3
"""Checks the launch scripts and deployment files against each other and against emfleet's --help.

Usage: scripts/check-deploy.py [--emfleet PATH] [--skip-flags]

  --emfleet PATH  the binary whose help the flags are checked against
                  (default: $EMFLEET, else .build/release/emfleet in this repository)
  --skip-flags    only the structural checks: run no binary

What it checks:
  * every YAML document under deploy/kubernetes parses and has apiVersion, kind and metadata.name;
    the Service emfleet-coordinator's port (5555) = the port in the coordinator's --bind = the port
    in the workers' --connect, whose host is that Service; the Service selects the coordinator pod
    only; --min-workers = the workers' parallelism; the coordinator and the workers mount the
    claim of data-pvc.yaml at /data, and --data and --out lie under /data;
  * the sbatch template (#SBATCH --ntasks and --requeue, no #SBATCH --ntasks-per-node or --nodes
    that would refuse `sbatch --ntasks=N` on small nodes, srun, SLURM_PROCID, scontrol, workers
    stopped with SIGUSR1 rather than SIGTERM, --resume-if-present in the job line), the
    Dockerfile (stages, binary path, ENTRYPOINT, EXPOSE) and the shell scripts' syntax (bash -n);
  * every --flag given to emfleet in deploy/, scripts/launch-*.sh, scripts/check-ssh-launch.sh,
    the Dockerfile (RUN, ENTRYPOINT + CMD) and the code blocks of docs/DEPLOY.md and
    deploy/README.md appears in the matching `emfleet ... --help`: the subcommand's own help where
    the command names one (`worker --help` for workers), else `gmm fit --help` (job arguments that
    come from the launcher's caller); and every launcher option used in the docs is one the
    launcher's usage comment lists;
  * the CURVE keys: every --bind beyond loopback (not 127.x, localhost, [::1] or ipc://) in deploy/
    and in the docs' code blocks comes with --curve-secret and --authorized-keys (or --insecure),
    and every worker that connects beyond loopback with --curve-secret and --coordinator-key; the
    Secret emfleet-keys holds coordinator.secret/.public and worker.secret/.public, the pods mount
    it with modes that give others nothing, read public keys (and the --authorized-keys directory)
    from it and secret keys from an in-memory emptyDir that an init container fills under umask 077;
    the sbatch template makes its keys with emfleet keygen in a mktemp -d directory and removes
    them; `launch-ssh.sh --dry-run` gives the coordinator and each worker keys (none, and the
    coordinator --insecure, under --insecure), and its printed commands' flags are checked too.

Prints one line per check and exits 1 if any failed. Needs PyYAML (pip install pyyaml).
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import yaml
except ImportError:
    sys.exit("check-deploy: PyYAML is missing: install it with `python3 -m pip install pyyaml`")

ROOT = Path(__file__).resolve().parent.parent
PORT = 5555  # the port in every example
SERVICE = "emfleet-coordinator"
DATA_MOUNT = "/data"
JOB_DEFAULT = ("gmm", "fit")  # job arguments of unknown subcommand are checked against this help
SECRET = "emfleet-keys"  # the Kubernetes Secret of the CURVE keys
SECRET_KEYS = {"coordinator.secret", "coordinator.public", "worker.secret", "worker.public"}
LOOPBACK = re.compile(r"^(127(\.\d+){3}|localhost|\[::1\]|::1)$")


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, where, message):
        print(f"ok   {where}: {message}")
        self.passed += 1

    def fail(self, where, message):
        print(f"FAIL {where}: {message}")
        self.failed += 1

    def check(self, condition, where, message, failure):
        if condition:
            self.ok(where, message)
        else:
            self.fail(where, failure)
        return condition


def rel(path):
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------
# emfleet invocations found in files


class Invocation:
    """An emfleet command line: where it is, its subcommand words (None: job arguments whose
    subcommand comes from elsewhere), the --flags it passes, and its arguments (unquoted tokens)."""

    def __init__(self, where, words, flags, args=()):
        self.where = where
        self.words = words
        self.flags = flags
        self.args = [str(a) for a in args]


FLAG = re.compile(r"^(--[a-z][a-z0-9-]*)(=.*)?$")
WORD = re.compile(r"^[a-z][a-z0-9-]*$")
VARIABLE_BINARIES = {"$emfleet", "$EMFLEET", "$EMFLEET_BIN", "$emfleet_remote", "$EMFLEET_REMOTE"}
PATH_BINARY = re.compile(r"^(?:\S*/)?emfleet(?::[\w.-]+)?$")  # emfleet, /x/emfleet, emfleet:0.1.0
TERMINATORS = {";", "&&", "||", "|", "&", ")", ";;", "<", ">", ">>", "2>&1", "2>", "&>"}
NOT_COMMANDS = {"echo", "printf", "die", "say", "warn", "usage", "note", "log", ":", "read", "local"}


def clean(token):
    """A token without quotes, braces of ${...}, and leading ( or trailing ) of arrays and $()."""
    token = token.replace('"', "").replace("'", "")
    token = re.sub(r"\$\{(\w+)\}", r"$\1", token)
    return token.lstrip("(").rstrip(")")


def is_binary(token):
    token = clean(token)
    return token in VARIABLE_BINARIES or bool(PATH_BINARY.match(token))


def logical_lines(text):
    """Shell text as (line number, line) with backslash continuations joined and comments cut."""
    lines = text.split("\n")
    out = []
    index = 0
    while index < len(lines):
        start = index + 1
        line = lines[index]
        while line.endswith("\\") and index + 1 < len(lines):
            index += 1
            line = line[:-1] + " " + lines[index]
        index += 1
        line = re.sub(r"(^|\s)#.*$", "", line)
        if line.strip():
            out.append((start, line))
    return out


def words_and_flags(tokens):
    """The leading subcommand words and the flags. The words are () when a flag comes first (the
    top-level command), None when an expansion does ("${job[@]}": arguments made elsewhere)."""
    words = []
    for token in tokens:
        if WORD.match(token):
            words.append(token)
        else:
            break
    flags = [m.group(1) for m in (FLAG.match(t) for t in tokens) if m]
    if not words and not (tokens and FLAG.match(tokens[0])):
        return None, flags
    return tuple(words), flags


def command_tokens(tokens):
    """Tokens up to the end of the command (a terminator or a redirection)."""
    out = []
    for token in tokens:
        if token in TERMINATORS or re.match(r"^\d?[<>]", token):
            break
        if token.endswith(";"):
            out.append(clean(token[:-1]))
            break
        out.append(clean(token))
    return out


def launcher_options(script):
    """The --options a launcher's usage comment lists, and those of them that take a value."""
    options, with_value = set(), set()
    path = ROOT / "scripts" / script
    if not path.exists():
        return options, with_value
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        for m in re.finditer(r"(--[a-z][a-z0-9-]*)(\s+(?:[A-Z][A-Z_]*\b|\"))?", line):
            options.add(m.group(1))
            if m.group(2):
                with_value.add(m.group(1))
    return options, with_value


def shell_invocations(text, name, first_line=1):
    """emfleet invocations in shell text, and launcher invocations (options, job arguments)."""
    found, launches = [], []
    for number, line in logical_lines(text):
        where = f"{name}:{number + first_line - 1}"
        tokens = line.split()
        # Messages are no commands: cut the line where one starts (`... || die "..."`).
        cut = next((i for i, t in enumerate(tokens) if clean(t) in NOT_COMMANDS), len(tokens))
        tokens = tokens[:cut]
        if not tokens:
            continue
        line = " ".join(tokens)
        # NAME=(gmm fit ...) or NAME=(--flag ...): an argument list kept in an array.
        m = re.match(r"^\s*(\w+)\+?=\((.*)\)\s*$", line)
        if m and not any(is_binary(t) for t in tokens):
            inner = command_tokens(m.group(2).split())
            if inner and (FLAG.match(inner[0]) or WORD.match(inner[0])):
                words, flags = words_and_flags(inner)
                if not words:
                    # (--flag ...): a piece of a job's arguments, or of a worker's where the
                    # array's name says so (worker_args=(--curve-secret ...), aggregator_curve=(...)).
                    words = (("worker",) if m.group(1).startswith("worker")
                             else ("aggregator",) if m.group(1).startswith("aggregator") else None)
                if flags:
                    found.append(Invocation(where, words, flags, inner))
            continue
        for index, token in enumerate(tokens):
            plain = clean(token)
            if plain.endswith("launch-local.sh") or plain.endswith("launch-ssh.sh"):
                launches.append((where, Path(plain).name, command_tokens(tokens[index + 1:])))
                break
            if is_binary(token):
                rest = command_tokens(tokens[index + 1:])
                words, flags = words_and_flags(rest)
                if words is None and "worker" in rest:
                    words = ("worker",)
                elif words is None and "aggregator" in rest:
                    words = ("aggregator",)
                if flags:
                    found.append(Invocation(where, words, flags, rest))
                break
    return found, launches


def launcher_invocations(launches, report):
    """Job invocations inside launcher command lines; checks the launchers' own options."""
    found = []
    for where, script, tokens in launches:
        options, with_value = launcher_options(script)
        used, index, job = [], 0, None
        positional_needed = 1  # HOSTFILE or N
        while index < len(tokens):
            token = tokens[index]
            if token == "--":
                job = tokens[index + 1:]
                break
            m = FLAG.match(token)
            if m:
                used.append(m.group(1))
                index += 2 if (m.group(1) in with_value and not m.group(2)) else 1
                continue
            if script == "launch-local.sh" and positional_needed == 0:
                job = tokens[index:]
                break
            positional_needed = max(0, positional_needed - 1)
            index += 1
        unknown = [o for o in used if o not in options and o != "--help"]
        if unknown:
            for option in unknown:
                report.fail(where, f"{script} has no option {option} (not in its usage comment)")
        elif used:
            report.ok(where, f"{script} accepts {' '.join(used)}")
        if job:
            words, flags = words_and_flags(job)
            if flags:
                found.append(Invocation(where, words, flags, job))
    return found


def markdown_invocations(path, report):
    """Invocations in the fenced code blocks of a Markdown file."""
    text = path.read_text()
    found, launches = [], []
    in_block, block, block_start = False, [], 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            if in_block:
                inv, lau = shell_invocations("\n".join(block), rel(path), block_start)
                found += inv
                launches += lau
                in_block = False
            else:
                in_block, block, block_start = True, [], number + 1
            continue
        if in_block:
            block.append(re.sub(r"^\s*\$ ", "", line))
    return found + launcher_invocations(launches, report)


def argv_invocation(argv, where):
    """An invocation from an exec-form argv (Kubernetes command/args, Dockerfile ENTRYPOINT+CMD)."""
    if not argv:
        return []
    if Path(argv[0]).name in ("sh", "bash") and len(argv) >= 3 and argv[1] == "-c":
        return shell_invocations(argv[2], where)[0]
    if not is_binary(argv[0]):
        return []
    words, flags = words_and_flags([str(a) for a in argv[1:]])
    if words is None and "worker" in argv[1:]:
        words = ("worker",)
    return [Invocation(where, words, flags, argv[1:])] if flags else []


# ---------------------------------------------------------------------------------------------
# emfleet's help


class Help:
    def __init__(self, binary):
        self.binary = binary
        self.cache = {}

    def get(self, words):
        """(flags, subcommands, error) of `emfleet WORDS --help`."""
        if words in self.cache:
            return self.cache[words]
        command = [self.binary, *words, "--help"]
        shown = " ".join(["emfleet", *words, "--help"])
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60)
            text = result.stdout + result.stderr
        except (OSError, subprocess.TimeoutExpired) as error:
            self.cache[words] = (set(), set(), f"`{shown}` did not run: {error}")
            return self.cache[words]
        usage = re.search(r"^USAGE: (.*)$", text, re.M)
        expected = " ".join(["emfleet", *words])
        if not usage or not (usage.group(1) == expected or usage.group(1).startswith(expected + " ")):
            self.cache[words] = (set(), set(), f"`{shown}` does not describe `{expected}`")
            return self.cache[words]
        flags, subcommands, section = {"--help"}, set(), None
        for line in text.splitlines():
            if re.match(r"^[A-Z][A-Z ]*:", line):
                section = line.split(":")[0]
                continue
            m = re.match(r"^\s{1,8}(?:-\w, )?(--[\w-]+(?:/--[\w-]+)*)", line)
            if m:
                flags.update(m.group(1).split("/"))
            if section == "SUBCOMMANDS":
                m = re.match(r"^  ([a-z][\w-]*)(\s|$)", line)
                if m:
                    subcommands.add(m.group(1))
        self.cache[words] = (flags, subcommands, None)
        return self.cache[words]

    def resolve(self, words):
        """The subcommand path the words name, or an error naming the word that is none."""
        path = ()
        for word in words:
            _, subcommands, error = self.get(path)
            if error:
                return path, error
            if not subcommands:
                break  # a leaf: the rest are positional arguments
            if word not in subcommands:
                shown = " ".join(["emfleet", *path])
                return path, f"`{shown}` has no subcommand `{word}` (`{shown} --help` lists: {', '.join(sorted(subcommands))})"
            path += (word,)
        return path, None


def endpoint_is_local(value):
    """Whether a --bind/--connect endpoint stays on this machine: ipc://, or tcp:// on a loopback
    host. A host that is a variable ($X) or a name is taken as reaching beyond it."""
    if value.startswith("ipc://"):
        return True
    m = re.match(r"^tcp://(\[[^\]]*\]|[^:/]*)", value)
    return bool(m and LOOPBACK.match(m.group(1)))


def check_security(invocations, report):
    """Every coordinator that binds beyond loopback in the deploy files and the docs' code blocks
    has --curve-secret and --authorized-keys (or says --insecure), and every worker that connects
    beyond loopback has --curve-secret and --coordinator-key."""
    for inv in invocations:
        if not inv.where.startswith(("deploy/", "docs/")):
            continue
        bind = option(inv.args, "--bind")
        if inv.words == ("aggregator",) and bind is not None and not endpoint_is_local(bind):
            # An aggregator serves with its own key and admits the worker keys its coordinator lists.
            if "--insecure" in inv.flags:
                report.ok(inv.where, f"aggregator --bind {bind} without CURVE says --insecure")
            else:
                missing = [f for f in ("--curve-secret", "--coordinator-key") if f not in inv.flags]
                report.check(not missing, inv.where, f"aggregator --bind {bind} with --curve-secret and --coordinator-key",
                             f"aggregator --bind {bind} listens beyond loopback without {' and '.join(missing)}")
        elif bind is not None and not endpoint_is_local(bind):
            if "--insecure" in inv.flags:
                report.ok(inv.where, f"--bind {bind} without CURVE says --insecure")
            else:
                missing = [f for f in ("--curve-secret", "--authorized-keys") if f not in inv.flags]
                report.check(not missing, inv.where, f"--bind {bind} with --curve-secret and --authorized-keys",
                             f"--bind {bind} listens beyond loopback without {' and '.join(missing)} "
                             "(give the coordinator's keys, or --insecure on a trusted network)")
        connect = option(inv.args, "--connect")
        if inv.words == ("worker",) and connect is not None and not endpoint_is_local(connect):
            missing = [f for f in ("--curve-secret", "--coordinator-key") if f not in inv.flags]
            report.check(not missing, inv.where, f"worker --connect {connect} with --curve-secret and --coordinator-key",
                         f"worker --connect {connect} beyond loopback without {' and '.join(missing)}")


def check_flags(invocations, help_, report):
    for inv in invocations:
        words = inv.words if inv.words is not None else JOB_DEFAULT
        path, error = help_.resolve(words)
        if error:
            report.fail(inv.where, f"{error}; cannot check {' '.join(inv.flags)}")
            continue
        flags, _, error = help_.get(path)
        command = " ".join(["emfleet", *path])
        if error:
            report.fail(inv.where, f"{error}; cannot check {' '.join(inv.flags)}")
            continue
        missing = [f for f in inv.flags if f not in flags]
        for flag in missing:
            report.fail(inv.where, f"{command} has no {flag} (not in `{command} --help`)")
        if not missing:
            report.ok(inv.where, f"{command} accepts {' '.join(dict.fromkeys(inv.flags))}")


# ---------------------------------------------------------------------------------------------
# Kubernetes


def pod_spec(doc):
    kind = doc.get("kind")
    spec = doc.get("spec") or {}
    if kind == "Pod":
        return spec, (doc.get("metadata") or {}).get("labels") or {}
    if kind == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    template = spec.get("template") or {}
    return template.get("spec"), (template.get("metadata") or {}).get("labels") or {}


def container_argv(container):
    command = container.get("command")
    args = container.get("args") or []
    return [str(a) for a in (command if command else ["emfleet"]) + args]  # ENTRYPOINT is emfleet


def emfleet_argv(argv):
    """The emfleet command line of a container: its argv, or the emfleet line of an `sh -c` script."""
    if argv and Path(argv[0]).name in ("sh", "bash") and "-c" in argv[1:-1]:
        script = argv[argv.index("-c") + 1]
        for _, line in logical_lines(script):
            tokens = line.split()
            for index, token in enumerate(tokens):
                if is_binary(token):
                    return [clean(token)] + command_tokens(tokens[index + 1:])
        return []
    return argv


def option(argv, name):
    for index, arg in enumerate(argv):
        if arg == name and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def tcp_endpoint(value):
    m = re.match(r"^tcp://(\[[^\]]+\]|[^:/]+):(\d+)$", value or "")
    return (m.group(1), int(m.group(2))) if m else None


def check_kubernetes(report):
    directory = ROOT / "deploy" / "kubernetes"
    invocations = []
    objects = []  # (file, doc)
    for name in ("coordinator.yaml", "workers.yaml", "data-pvc.yaml"):
        report.check((directory / name).exists(), rel(directory / name), "exists", "is missing")
    for path in sorted(list(directory.glob("*.yaml")) + list(directory.glob("*.yml"))):
        where = rel(path)
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except yaml.YAMLError as error:
            report.fail(where, f"is not valid YAML: {' '.join(str(error).split())}")
            continue
        good = True
        for doc in docs:
            name = isinstance(doc, dict) and (doc.get("metadata") or {}).get("name")
            if not (isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind") and name):
                report.fail(where, "a document lacks apiVersion, kind or metadata.name")
                good = False
                continue
            objects.append((path.name, doc))
        if good:
            report.ok(where, "parses: " + ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in docs))

    containers = []  # (file, doc, container, argv, labels, spec)
    for file, doc in objects:
        spec, labels = pod_spec(doc)
        if not spec:
            continue
        for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            argv = container_argv(container)
            where = f"deploy/kubernetes/{file} ({doc['kind']}/{doc['metadata']['name']}, container {container.get('name')})"
            invocations += argv_invocation(argv, where)
            containers.append((file, doc, container, emfleet_argv(argv), labels, spec))

    def emfleet_words(argv):
        return [a for a in argv[1:] if not a.startswith("-")][:1] if argv and is_binary(argv[0]) else []

    coordinators = [c for c in containers if c[0] == "coordinator.yaml" and option(c[3], "--bind")]
    workers = [c for c in containers if c[0] == "workers.yaml" and emfleet_words(c[3]) == ["worker"]]
    services = [d for f, d in objects if d["kind"] == "Service" and d["metadata"]["name"] == SERVICE]
    claims = [d for f, d in objects if f == "data-pvc.yaml" and d["kind"] == "PersistentVolumeClaim"]
    here = "deploy/kubernetes"

    service, service_port = {}, None
    if report.check(len(services) == 1, f"{here}/coordinator.yaml", f"has the Service {SERVICE}",
                    f"needs exactly one Service named {SERVICE}, found {len(services)}"):
        service = services[0]
        ports = (service.get("spec") or {}).get("ports") or []
        service_port = next((p for p in ports if p.get("port") == PORT), None)
        report.check(service_port is not None, f"{here}/coordinator.yaml", f"Service {SERVICE} serves port {PORT}",
                     f"Service {SERVICE} has no port {PORT} (ports: {[p.get('port') for p in ports]})")

    coordinator_ok = report.check(
        len(coordinators) == 1 and coordinators[0][1]["kind"] == "Job", f"{here}/coordinator.yaml",
        "has the coordinator Job (emfleet with --bind)",
        f"needs one Job whose container runs emfleet with --bind, found {len(coordinators)} such containers")
    workers_ok = report.check(
        len(workers) >= 1 and workers[0][1]["kind"] in ("Job", "StatefulSet", "Deployment"), f"{here}/workers.yaml",
        f"has the workers ({workers[0][1]['kind'] if workers else '-'} running emfleet worker)",
        "needs a Job (or StatefulSet) whose container runs `emfleet worker`")

    if coordinator_ok:
        _, job, container, argv, labels, spec = coordinators[0]
        bind = option(argv, "--bind")
        endpoint = tcp_endpoint(bind)
        if report.check(endpoint is not None, f"{here}/coordinator.yaml", f"--bind {bind}",
                        f"--bind {bind!r} is not tcp://HOST:PORT"):
            host, port = endpoint
            report.check(host in ("0.0.0.0", "*"), f"{here}/coordinator.yaml", f"--bind listens on all interfaces ({host})",
                         f"--bind {bind}: bind 0.0.0.0 (or *) in a pod, not {host}")
            report.check(port == PORT, f"{here}/coordinator.yaml", f"--bind port {port} = Service port {PORT}",
                         f"--bind port {port} differs from the Service's port {PORT}")
            if service_port is not None:
                target = service_port.get("targetPort", service_port.get("port"))
                named = {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}
                resolved = named.get(target) if isinstance(target, str) else target
                report.check(resolved == port, f"{here}/coordinator.yaml",
                             f"Service targetPort {target} reaches the coordinator's port {port}",
                             f"Service targetPort {target!r} resolves to {resolved!r}, not the --bind port {port}")
        if service:
            selector = (service.get("spec") or {}).get("selector") or {}
            report.check(selector and all(labels.get(k) == v for k, v in selector.items()), f"{here}/coordinator.yaml",
                         "Service selector matches the coordinator pod",
                         f"Service selector {selector} does not match the coordinator pod's labels {labels}")
            stray = [c[1]["metadata"]["name"] for c in containers if c[0] != "coordinator.yaml" and selector
                     and all(c[4].get(k) == v for k, v in selector.items())]
            report.check(not stray, f"{here}/coordinator.yaml", "Service selector matches no other pod",
                         f"Service selector {selector} also matches {', '.join(stray)}")
        for flag in ("--data", "--out"):
            value = option(argv, flag)
            report.check(value is not None and value.startswith(DATA_MOUNT + "/"), f"{here}/coordinator.yaml",
                         f"{flag} {value} is on the data volume", f"{flag} {value!r} is not under {DATA_MOUNT}/")

    if workers_ok:
        _, workload, container, argv, labels, spec = workers[0]
        connect = option(argv, "--connect")
        endpoint = tcp_endpoint(connect)
        if report.check(endpoint is not None, f"{here}/workers.yaml", f"--connect {connect}",
                        f"--connect {connect!r} is not tcp://HOST:PORT"):
            host, port = endpoint
            report.check(host == SERVICE or host.startswith(SERVICE + "."), f"{here}/workers.yaml",
                         f"--connect host is the Service {SERVICE}", f"--connect host {host} is not the Service {SERVICE}")
            report.check(port == PORT, f"{here}/workers.yaml", f"--connect port {port} = Service port {PORT}",
                         f"--connect port {port} differs from the Service's port {PORT}")
        count = (workload.get("spec") or {}).get("parallelism" if workload["kind"] == "Job" else "replicas")
        if coordinator_ok:
            min_workers = option(coordinators[0][3], "--min-workers")
            report.check(min_workers is not None and str(count) == str(min_workers), f"{here}/workers.yaml",
                         f"{workload['kind']} runs {count} workers = the coordinator's --min-workers {min_workers}",
                         f"{workload['kind']} runs {count} workers but the coordinator's --min-workers is {min_workers}")

    if report.check(len(claims) == 1, f"{here}/data-pvc.yaml", "has the PersistentVolumeClaim",
                    f"needs one PersistentVolumeClaim, found {len(claims)}"):
        claim = claims[0]["metadata"]["name"]
        modes = (claims[0].get("spec") or {}).get("accessModes") or []
        report.check("ReadWriteMany" in modes, f"{here}/data-pvc.yaml", f"{claim} is ReadWriteMany (pods on many nodes)",
                     f"{claim} has accessModes {modes}: pods on several nodes need ReadWriteMany")
        for label, chosen in (("coordinator's pods", coordinators[:1] if coordinator_ok else []),
                              ("workers' pods", workers[:1] if workers_ok else [])):
            for file, doc, container, argv, labels, spec in chosen:
                volumes = {v.get("name") for v in spec.get("volumes") or []
                           if (v.get("persistentVolumeClaim") or {}).get("claimName") == claim}
                mounted = [m for m in container.get("volumeMounts") or []
                           if m.get("name") in volumes and m.get("mountPath") == DATA_MOUNT]
                report.check(bool(mounted), f"{here}/{file}", f"the {label} mount claim {claim} at {DATA_MOUNT}",
                             f"the {label} do not mount claim {claim} at {DATA_MOUNT}")

    if coordinator_ok and workers_ok:
        images = {coordinators[0][2].get("image"), workers[0][2].get("image")}
        report.check(len(images) == 1, here, f"coordinator and workers run one image ({images.pop()})",
                     f"coordinator and workers run different images: {sorted(map(str, images))}")

    check_kubernetes_keys(report, objects, coordinators[:1] if coordinator_ok else [],
                          workers[:1] if workers_ok else [])
    return invocations


def check_kubernetes_keys(report, objects, coordinators, workers):
    """The Secret of the CURVE keys, and how the coordinator's and the workers' pods reach them:
    each key flag's path lies on a volume of the container; a public key or an --authorized-keys
    directory may come straight from the Secret (an item of it), a secret key must not (with fsGroup
    the kubelet makes a Secret's files group-readable, which emfleet refuses; without it they belong
    to root): it is copied by an init container into a memory-backed emptyDir. The Secret volumes
    give others no access (defaultMode and item modes without o+rwx)."""
    here = "deploy/kubernetes"
    secrets = [(f, d) for f, d in objects if d["kind"] == "Secret" and d["metadata"]["name"] == SECRET]
    provided = set()
    if report.check(len(secrets) == 1, here, f"has the Secret {SECRET} ({secrets[0][0] if secrets else '-'})",
                    f"needs exactly one Secret named {SECRET} (the CURVE keys), found {len(secrets)}"):
        file, secret = secrets[0]
        provided = set((secret.get("data") or {}).keys()) | set((secret.get("stringData") or {}).keys())
        missing = sorted(SECRET_KEYS - provided)
        report.check(not missing, f"{here}/{file}", f"Secret {SECRET} holds {', '.join(sorted(SECRET_KEYS))}",
                     f"Secret {SECRET} lacks {', '.join(missing)}")

    roles = [("coordinator's", c, {"--curve-secret": "secret", "--authorized-keys": "directory"}) for c in coordinators]
    roles += [("workers'", w, {"--curve-secret": "secret", "--coordinator-key": "public"}) for w in workers]
    for role, (file, _, container, argv, _, spec), flags in roles:
        where = f"{here}/{file}"
        volumes = {v.get("name"): v for v in spec.get("volumes") or []}
        secret_volumes = {n: v["secret"] for n, v in volumes.items() if (v.get("secret") or {}).get("secretName") == SECRET}
        if not report.check(secret_volumes, where, f"the {role} pods mount the Secret {SECRET}",
                            f"the {role} pods mount no volume of the Secret {SECRET}"):
            continue
        for name, source in secret_volumes.items():
            modes = [("defaultMode", source.get("defaultMode", 0o644))]
            modes += [(f"mode of {i.get('key')}", i["mode"]) for i in source.get("items") or [] if "mode" in i]
            loose = [f"{label} {mode:#o}" if isinstance(mode, int) else f"{label} {mode!r}"
                     for label, mode in modes if not isinstance(mode, int) or mode & 0o007]
            report.check(not loose, where, f"volume {name}: the Secret's files are not readable by others "
                         f"(defaultMode {source.get('defaultMode', 0o644):04o})",
                         f"volume {name}: {', '.join(loose)} lets others read the keys (use 0440 or 0400)")
            unknown = [i.get("key") for i in source.get("items") or [] if provided and i.get("key") not in provided]
            report.check(not unknown, where, f"volume {name}: its items are keys of the Secret",
                         f"volume {name}: items {unknown} are not keys of the Secret {SECRET}")

        def mount_of(container_, path):
            """(volume name, path inside the volume) of the longest mount holding path."""
            best = None
            for mount in container_.get("volumeMounts") or []:
                root = (mount.get("mountPath") or "").rstrip("/")
                if path == root or path.startswith(root + "/"):
                    if best is None or len(root) > len(best[2]):
                        best = (mount.get("name"), path[len(root) + 1:], root)
            return best[:2] if best else (None, None)

        def secret_paths(source):
            items = source.get("items")
            return {i.get("path") for i in items} if items else set(provided)

        for flag, what in flags.items():
            path = option(argv, flag)
            if not report.check(path is not None, where, f"the {role} command has {flag}",
                                f"the {role} emfleet command has no {flag} (CURVE keys)"):
                continue
            volume, inside = mount_of(container, path)
            if not report.check(volume in volumes, where, f"{flag} {path} lies on the volume {volume}",
                                f"{flag} {path} lies on no volume of the {role} container"):
                continue
            if volume in secret_volumes:
                if what == "secret":
                    report.fail(where, f"{flag} {path} is read straight from the Secret volume {volume}: its files are "
                                "group-readable under fsGroup (or root's without it) and emfleet refuses them; copy "
                                "the key into an emptyDir (medium: Memory) with an init container, under umask 077")
                    continue
                files = secret_paths(secret_volumes[volume])
                if what == "directory":
                    ok = any(f.startswith(inside + "/") and f.endswith(".public") for f in files)
                else:
                    ok = inside in files
                report.check(ok, where, f"{flag} {path} comes from the Secret {SECRET}",
                             f"{flag} {path}: the volume {volume} has no {inside}{'/*.public' if what == 'directory' else ''} "
                             f"(it has {sorted(files)})")
                continue
            empty_dir = volumes[volume].get("emptyDir")
            if not report.check(empty_dir is not None, where, f"{flag} {path} is on the emptyDir {volume}",
                                f"{flag} {path} is on volume {volume}, neither the Secret {SECRET} nor an emptyDir"):
                continue
            report.check((empty_dir or {}).get("medium") == "Memory", where, f"the emptyDir {volume} is in memory",
                         f"the emptyDir {volume} that holds {path} should have medium: Memory (keys off the node's disk)")
            copiers = [c for c in spec.get("initContainers") or []
                       if {m.get("name") for m in c.get("volumeMounts") or []} >= {volume, *secret_volumes}
                       and any(os.path.basename(path) in str(a) for a in container_argv(c))]
            copier = copiers[0] if copiers else None
            script = " ".join(container_argv(copier)) if copier else ""
            report.check(copier is not None and "umask 077" in script, where,
                         f"the init container {copier.get('name') if copier else '-'} copies {os.path.basename(path)} "
                         f"from the Secret into {volume} under umask 077",
                         f"nothing copies {os.path.basename(path)} into the emptyDir {volume}: add an init container that "
                         "mounts the Secret and the emptyDir and copies it under `umask 077`")


# ---------------------------------------------------------------------------------------------
# Slurm, Docker, scripts


def bash_syntax(path, report):
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    report.check(result.returncode == 0, rel(path), "bash -n: syntax ok",
                 f"bash -n: {' '.join(result.stderr.split())}")


def check_slurm(report):
    path = ROOT / "deploy" / "slurm" / "emfleet.sbatch"
    if not report.check(path.exists(), rel(path), "exists", "is missing"):
        return []
    text = path.read_text()
    bash_syntax(path, report)
    for needle, what in ((r"^#SBATCH\s+--ntasks=\d+", "#SBATCH --ntasks=N"),
                         (r"^#SBATCH\s+--requeue\b", "#SBATCH --requeue"),
                         (r"^job=\(.*--resume-if-present", "--resume-if-present in the job line"),
                         (r"scancel --quiet --signal=USR1", "workers stopped with SIGUSR1 (SIGTERM reads as a cancelled step)"),
                         (r"^\s*srun\b", "srun"),
                         (r"SLURM_PROCID", "SLURM_PROCID"),
                         (r'scontrol show hostnames "\$SLURM_JOB_NODELIST" \| head -n1', "the first node from scontrol")):
        report.check(re.search(needle, text, re.M), rel(path), f"has {what}", f"lacks {what}")
    for needle, what in ((r"^#SBATCH\s+--ntasks-per-node", "#SBATCH --ntasks-per-node"),
                         (r"^#SBATCH\s+(--nodes|-N)\b", "#SBATCH --nodes")):
        report.check(not re.search(needle, text, re.M), rel(path), f"has no {what} (sbatch --ntasks=N works on nodes of any size)",
                     f"has {what}, which makes `sbatch --ntasks=N` ask for more cores per node (or more nodes) than small nodes have")
    bind = re.search(r"--bind\s+\"?tcp://([^:\"]+):([^\"\s]+)", text)
    connect = re.search(r"--connect\s+\"?tcp://([^:\"]+):([^\"\s]+)", text)
    if report.check(bind and connect, rel(path), "has the coordinator's --bind and the workers' --connect",
                    "needs a coordinator with --bind tcp://... and workers with --connect tcp://..."):
        report.check(bind.group(2) == connect.group(2), rel(path),
                     f"--bind and --connect use one port ({bind.group(2)})",
                     f"--bind port {bind.group(2)} differs from --connect port {connect.group(2)}")
    report.check(re.search(r'mktemp -d "\$SLURM_SUBMIT_DIR/', text) and re.search(r"umask 077", text), rel(path),
                 "makes the job's key directory with mktemp -d (mode 0700) in $SLURM_SUBMIT_DIR, under umask 077",
                 "needs the job's keys in a fresh mktemp -d directory under $SLURM_SUBMIT_DIR, made under umask 077")
    report.check(re.search(r"keygen --out \S+ --name coordinator", text) and re.search(r"keygen --out \S+ --name worker", text),
                 rel(path), "makes the coordinator's and the workers' key pairs with emfleet keygen",
                 "needs `emfleet keygen` for the coordinator's and the workers' key pairs")
    report.check(re.search(r"trap 'rm -rf \"\$EMFLEET_KEYS\"' EXIT", text), rel(path), "removes the job's keys on exit",
                 "needs trap 'rm -rf \"$EMFLEET_KEYS\"' EXIT to remove the job's keys")
    found, launches = shell_invocations(text, rel(path))
    return found + launcher_invocations(launches, report)


def dockerfile_instructions(text):
    """(line, INSTRUCTION, arguments) with continuation lines joined."""
    out = []
    for number, line in logical_lines(text):
        m = re.match(r"^\s*([A-Za-z]+)\s+(.*)$", line)
        if m:
            out.append((number, m.group(1).upper(), m.group(2).strip()))
    return out


def exec_form(arguments):
    try:
        value = json.loads(arguments)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    except ValueError:
        pass
    return ["sh", "-c", arguments]


def check_docker(report):
    path = ROOT / "deploy" / "docker" / "Dockerfile"
    where = rel(path)
    if not report.check(path.exists(), where, "exists", "is missing"):
        return []
    instructions = dockerfile_instructions(path.read_text())
    froms = [a for _, i, a in instructions if i == "FROM"]
    report.check(any(re.match(r"^swift:\S+\s+AS\s+\w+", f, re.I) for f in froms), where,
                 "has a swift:... build stage", f"needs a build stage FROM swift:... AS NAME (FROM lines: {froms})")
    report.check(froms and froms[-1].startswith("debian:"), where, f"runs on {froms[-1] if froms else '-'}",
                 "the last stage should be FROM debian:bookworm-slim")
    report.check(any(i == "COPY" and "--from=" in a and a.endswith("/usr/local/bin/emfleet") for _, i, a in instructions),
                 where, "copies the binary to /usr/local/bin/emfleet",
                 "needs COPY --from=<build stage> ... /usr/local/bin/emfleet")
    report.check(any(i == "RUN" and "swift build -c release" in a for _, i, a in instructions), where,
                 "builds with swift build -c release", "needs RUN swift build -c release")
    exposed = [a for _, i, a in instructions if i == "EXPOSE"]
    report.check(any(str(PORT) in a.split() for a in exposed), where, f"EXPOSE {PORT}", f"needs EXPOSE {PORT}")

    invocations = []
    entrypoint, cmd, last = [], [], 0
    for number, instruction, arguments in instructions:
        if instruction == "FROM":
            entrypoint, cmd = [], []
        elif instruction == "ENTRYPOINT":
            entrypoint, last = exec_form(arguments), number
        elif instruction == "CMD":
            cmd, last = exec_form(arguments), number
        elif instruction == "RUN":
            invocations += shell_invocations(arguments, where, number)[0]
    report.check(entrypoint and is_binary(entrypoint[0]), where, f"ENTRYPOINT {entrypoint}",
                 f"the final stage's ENTRYPOINT should run emfleet, is {entrypoint}")
    argv = entrypoint + cmd
    if argv:
        invocations += argv_invocation(argv, f"{where}:{last} (ENTRYPOINT + CMD)")
    return invocations


def check_scripts(report, emfleet):
    invocations = []
    for name in ("launch-local.sh", "launch-ssh.sh", "check-ssh-launch.sh", "check-slurm.sh"):
        path = ROOT / "scripts" / name
        if not report.check(path.exists(), rel(path), "exists", "is missing"):
            continue
        report.check(os.access(path, os.X_OK), rel(path), "is executable", "is not executable (chmod +x)")
        bash_syntax(path, report)
        found, launches = shell_invocations(path.read_text(), rel(path))
        invocations += found + launcher_invocations(launches, report)
    if (ROOT / "scripts" / "launch-ssh.sh").exists():
        invocations += check_launch_ssh_dry_run(report, emfleet)
    return invocations


def check_launch_ssh_dry_run(report, emfleet):
    """`launch-ssh.sh --dry-run` (it runs no emfleet): by default the coordinator binds 0.0.0.0 with
    --curve-secret and --authorized-keys, and every worker runs with --curve-secret and
    --coordinator-key; with --insecure, the coordinator says --insecure and no worker has keys.
    Returns the printed emfleet commands, for the flag checks."""
    import tempfile
    script = ROOT / "scripts" / "launch-ssh.sh"
    binary = emfleet if emfleet and os.access(emfleet, os.X_OK) else shutil.which("true")
    invocations = []
    with tempfile.TemporaryDirectory() as tmp:
        hosts = Path(tmp) / "hosts"
        hosts.write_text("node1 slots=2\nalice@node2\n")
        job = ["gmm", "fit", "--data", "/shared/x.npy", "--components", "2", "--out", "model.json"]
        for mode in ("curve", "insecure"):
            where = f"scripts/launch-ssh.sh --dry-run{' --insecure' if mode == 'insecure' else ''}"
            command = ["bash", str(script), str(hosts), "--advertise", "10.0.0.5", "--dry-run"]
            command += ["--insecure"] if mode == "insecure" else []
            result = subprocess.run(command + ["--", *job], capture_output=True, text=True, timeout=60,
                                    env={**os.environ, "EMFLEET": binary, "TMPDIR": tmp})
            if not report.check(result.returncode == 0, where, "runs",
                                f"exited with {result.returncode}: {' '.join(result.stderr.split())}"):
                continue
            lines = [line for line in result.stdout.splitlines() if not line.startswith("#")]
            coordinator = next((line.split() for line in lines if "--bind" in line), [])
            workers = [line.split() for line in lines if re.search(r"\bworker --connect ", line)]
            report.check(option(coordinator, "--bind") == "tcp://0.0.0.0:5555" and len(workers) == 3, where,
                         "prints the coordinator on tcp://0.0.0.0:5555 and 3 workers",
                         f"prints {len(workers)} workers (3 expected) and coordinator {' '.join(coordinator) or '-'}")
            if mode == "curve":
                report.check("--curve-secret" in coordinator and "--authorized-keys" in coordinator, where,
                             "the coordinator runs with --curve-secret and --authorized-keys (fresh run keys)",
                             "the coordinator runs without --curve-secret and --authorized-keys")
                report.check(workers and all("--curve-secret" in w and "--coordinator-key" in w for w in workers), where,
                             "every worker runs with --curve-secret and --coordinator-key",
                             "a worker runs without --curve-secret and --coordinator-key")
                report.check(not os.listdir(tmp) or os.listdir(tmp) == ["hosts"], where, "makes no keys",
                             f"left {sorted(os.listdir(tmp))} in its TMPDIR")
            else:
                report.check("--insecure" in coordinator and "--curve-secret" not in coordinator, where,
                             "the coordinator runs with --insecure and no keys",
                             "the coordinator should run with --insecure and without --curve-secret")
                report.check(workers and not any("--curve-secret" in w for w in workers), where,
                             "the workers run without keys", "a worker runs with --curve-secret under --insecure")
            if coordinator:
                words, flags = words_and_flags(coordinator[1:])
                invocations.append(Invocation(f"{where} (coordinator)", words, flags, coordinator[1:]))
            for tokens in workers[:1]:
                rest = [clean(t) for t in tokens[tokens.index("worker"):] if not re.match(r"^\d?[<>&]", t)]
                rest = rest[:next((i for i, t in enumerate(rest) if t in ("&", "3<&-")), len(rest))]
                words, flags = words_and_flags(rest)
                invocations.append(Invocation(f"{where} (worker)", words, flags, rest))
    return invocations


def main():
    parser = argparse.ArgumentParser(description="Check emfleet's launch scripts and deployment files.")
    parser.add_argument("--emfleet", metavar="PATH",
                        default=os.environ.get("EMFLEET") or str(ROOT / ".build" / "release" / "emfleet"),
                        help="the emfleet binary whose --help the flags are checked against")
    parser.add_argument("--skip-flags", action="store_true", help="only the structural checks; run no binary")
    args = parser.parse_args()

    report = Report()
    invocations = check_kubernetes(report)
    invocations += check_slurm(report)
    invocations += check_docker(report)
    invocations += check_scripts(report, args.emfleet)
    for doc in (ROOT / "docs" / "DEPLOY.md", ROOT / "deploy" / "README.md"):
        if report.check(doc.exists(), rel(doc), "exists", "is missing"):
            invocations += markdown_invocations(doc, report)

    check_security(invocations, report)

    if args.skip_flags:
        print(f"check-deploy: skipped the flag checks of {len(invocations)} emfleet command lines (--skip-flags)")
    elif not (os.path.isfile(args.emfleet) and os.access(args.emfleet, os.X_OK)):
        report.fail(args.emfleet, "no emfleet binary here to check flags against (build it, or pass --emfleet PATH)")
    else:
        check_flags(invocations, Help(args.emfleet), report)

    print(f"check-deploy: {report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
