#!/usr/bin/env python3
"""The engine's dependency rule, checked.

The engine is a stack of libraries, one folder each (engine/CMakeLists.txt).
A file may include headers of its own folder and of folders *below* its
own, never above and never beside; nothing in engine/ includes gRPC,
librdkafka or services/; each library links only libraries below it; and no
set of engine files includes itself round (a cycle), also within a folder.

  tests/architecture/check_layers.py [ROOT]    # exit 1 listing every breach
  tests/architecture/check_layers.py --self-test

--self-test builds small trees that break each rule and checks that each
is caught, so that a checker that has stopped seeing breaches fails too.
"""

import os
import re
import sys
import tempfile

# Bottom up. A folder may depend on folders of a lower rank only: siblings
# of one rank (workflow and storage) know nothing of each other. "" is the
# facade, engine/ itself.
LAYERS = {
    "common": 0,
    "domain": 1,
    "workflow": 2,
    "storage": 2,
    "privacy": 2,
    "partition": 3,
    "access": 3,
    "audit": 4,
    "timers": 4,
    "staffing": 4,
    "streams": 4,
    "": 5,
}
LIBRARIES = {
    "gridcase_common": "common",
    "gridcase_domain": "domain",
    "gridcase_workflow": "workflow",
    "gridcase_storage": "storage",
    "gridcase_privacy": "privacy",
    "gridcase_partition": "partition",
    "gridcase_access": "access",
    "gridcase_audit": "audit",
    "gridcase_timers": "timers",
    "gridcase_staffing": "staffing",
    "gridcase_streams": "streams",
    "gridcase_engine": "",
}
# What the engine must never reach: the transport and the Kafka client live
# in services/.
FORBIDDEN = [
    (re.compile(r"^grpc(pp)?/|\.grpc\.pb\.h$"), "gRPC"),
    (re.compile(r"rdkafka"), "librdkafka"),
    (re.compile(r"^services/"), "services/"),
]
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]', re.M)
LINKS = re.compile(r"target_link_libraries\(\s*(\w+)([^)]*)\)", re.S)


def folder_of(rel):
    """engine/storage/store.h -> "storage"; engine/engine.h -> ""."""
    parts = rel.split("/")
    return parts[1] if len(parts) > 2 else ""


def engine_files(root):
    for base, _, names in os.walk(os.path.join(root, "engine")):
        for name in sorted(names):
            if name.endswith((".h", ".cc")):
                path = os.path.join(base, name)
                yield os.path.relpath(path, root).replace(os.sep, "/"), path


def check(root):
    problems = []
    graph = {}
    for rel, path in engine_files(root):
        here = folder_of(rel)
        if here not in LAYERS:
            problems.append(f"{rel}: folder engine/{here}/ has no layer (add it to LAYERS)")
            continue
        with open(path, encoding="utf-8") as f:
            text = f.read()
        graph[rel] = []
        for inc in INCLUDE.findall(text):
            for pattern, what in FORBIDDEN:
                if pattern.search(inc):
                    problems.append(f"{rel}: includes {inc}: {what} does not reach the engine")
            if not inc.startswith("engine/"):
                continue
            graph[rel].append(inc)
            if not os.path.exists(os.path.join(root, inc)):
                problems.append(f"{rel}: includes {inc}, which does not exist")
                continue
            there = folder_of(inc)
            if there == here:
                continue
            if there not in LAYERS:
                problems.append(f"{rel}: includes {inc} from an unknown folder")
            elif LAYERS[there] >= LAYERS[here]:
                way = "upward" if LAYERS[there] > LAYERS[here] else "sideways"
                problems.append(
                    f"{rel}: includes {inc}, {way} (engine/{here or '.'} is rank "
                    f"{LAYERS[here]}, engine/{there or '.'} rank {LAYERS[there]})")
    problems += cycles(graph)
    problems += links(root)
    return problems


def cycles(graph):
    """Every include cycle among engine files, once each."""
    found, seen, state = [], set(), {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in graph.get(node, []):
            if nxt not in graph:
                continue
            if state.get(nxt) == "open":
                ring = stack[stack.index(nxt):]
                key = frozenset(ring)
                if key not in seen:
                    seen.add(key)
                    found.append("include cycle: " + " -> ".join(ring + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


def links(root):
    """Each engine library links only libraries of a lower layer."""
    problems = []
    for base, _, names in os.walk(os.path.join(root, "engine")):
        if "CMakeLists.txt" not in names:
            continue
        path = os.path.join(base, "CMakeLists.txt")
        with open(path, encoding="utf-8") as f:
            text = re.sub(r"#[^\n]*", "", f.read())
        for target, rest in LINKS.findall(text):
            if target not in LIBRARIES:
                continue
            here = LIBRARIES[target]
            for dep in rest.split():
                if dep.startswith("gridcase_grpc") or "rdkafka" in dep.lower() or "grpc" in dep:
                    problems.append(f"{target} links {dep}: gRPC and librdkafka stay in services/")
                if dep in LIBRARIES and LAYERS[LIBRARIES[dep]] >= LAYERS[here]:
                    problems.append(f"{target} links {dep}, which is not below it")
    return problems


def self_test():
    """Each rule, broken on purpose in a small tree, must be caught."""
    cases = {
        "upward include": {
            "engine/storage/store.h": '#include "engine/partition/sequencer.h"\n',
            "engine/partition/sequencer.h": "",
        },
        "sideways include": {
            "engine/workflow/logic.h": '#include "engine/storage/store.h"\n',
            "engine/storage/store.h": "",
        },
        "gRPC in the engine": {"engine/engine.cc": "#include <grpcpp/grpcpp.h>\n"},
        "librdkafka in the engine": {"engine/audit/x.cc": '#include "librdkafka/rdkafka.h"\n'},
        "include cycle": {
            "engine/storage/a.h": '#include "engine/storage/b.h"\n',
            "engine/storage/b.h": '#include "engine/storage/a.h"\n',
        },
        "upward link": {
            "engine/storage/CMakeLists.txt":
                "target_link_libraries(gridcase_storage PUBLIC gridcase_partition)\n",
        },
        "unknown folder": {"engine/misc/x.h": ""},
        "include of a moved header": {"engine/engine.h": '#include "engine/store.h"\n'},
    }
    failures = 0
    for name, files in cases.items():
        with tempfile.TemporaryDirectory() as root:
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                    f.write(text)
            if check(root):
                print(f"caught: {name}")
            else:
                print(f"NOT CAUGHT: {name}")
                failures += 1
    with tempfile.TemporaryDirectory() as root:
        clean = {
            "engine/common/types.h": "#include <cstdint>\n",
            "engine/storage/store.h": '#include "engine/common/types.h"\n',
            "engine/engine.h": '#include "engine/storage/store.h"\n',
        }
        for rel, text in clean.items():
            os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
            with open(os.path.join(root, rel), "w", encoding="utf-8") as f:
                f.write(text)
        if check(root):
            print("a sound tree was refused: " + "; ".join(check(root)))
            failures += 1
        else:
            print("passed: a sound tree")
    return 1 if failures else 0


def main(argv):
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
    problems = check(os.path.abspath(root))
    for p in problems:
        print(p)
    if problems:
        print(f"{len(problems)} breaches of the dependency rule (docs/architecture.md)")
        return 1
    print("the engine's libraries depend one way")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
