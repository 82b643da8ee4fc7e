#!/usr/bin/env python3
"""Clang's thread-safety analysis over the engine and the services.

Members are declared ABSL_GUARDED_BY(mutex) and functions
ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex); clang's -Wthread-safety proves at
compile time that every access holds the lock. The build itself uses the
system compiler (g++), which ignores the annotations, so this check compiles
each translation unit once more with clang++ (syntax and analysis only, no
code generated), with the flags the build recorded in compile_commands.json.

  tests/architecture/check_thread_safety.py BUILD_DIR [SOURCE_ROOT]
  tests/architecture/check_thread_safety.py --self-test

Only the project's own sources under engine/ and services/ are checked; a
file with no mutex of its own is skipped. A lock the analysis cannot see
is refused outright: std::mutex, std::condition_variable, or a member
"guarded by" a comment instead of ABSL_GUARDED_BY. --self-test compiles a small
file that reads a guarded member without its lock and checks that the
analysis refuses it (so a check that has stopped analysing fails too).
"""

import concurrent.futures
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

CLANG = shutil.which("clang++-14") or shutil.which("clang++")
FLAGS = ["-fsyntax-only", "-Wthread-safety", "-Werror=thread-safety", "-Wno-unknown-warning-option"]
USES_LOCKS = re.compile(r"absl::Mutex|ABSL_GUARDED_BY|ABSL_EXCLUSIVE_LOCKS_REQUIRED|std::mutex")
# g++-only options clang does not know.
DROP = re.compile(r"^-f(no-)?(semantic-interposition|tree-|ipa-)|^-fdiagnostics-color")


def clang_command(entry):
    args = shlex.split(entry["command"]) if "command" in entry else list(entry["arguments"])
    out = [CLANG]
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if a in ("-c", "-MD", "-MMD") or DROP.match(a):
            continue
        out.append(a)
    return out + FLAGS


def check_file(entry):
    source = entry["file"]
    header = os.path.splitext(source)[0] + ".h"
    text = open(source, encoding="utf-8").read()
    if os.path.exists(header):
        text += open(header, encoding="utf-8").read()
    if not USES_LOCKS.search(text):
        return source, None
    run = subprocess.run(clang_command(entry), cwd=entry["directory"], capture_output=True,
                         text=True)
    return source, (run.stderr if run.returncode != 0 else "")


# Locks the analysis cannot check.
UNCHECKED = re.compile(r"std::(recursive_|shared_|timed_)?mutex\b|std::condition_variable\b|"
                       r"//.*\bguarded by\b")


def unchecked_locks(root):
    """Lines of engine/ and services/ that take a lock clang cannot check."""
    found = []
    for top in ("engine", "services"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith((".h", ".cc")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        if UNCHECKED.search(line):
                            found.append(f"{os.path.relpath(path, root)}:{number}: {line.strip()}")
    return found


def check(build_dir, root):
    unchecked = unchecked_locks(root)
    for line in unchecked:
        print(f"unchecked lock (use absl::Mutex and ABSL_GUARDED_BY): {line}")
    with open(os.path.join(build_dir, "compile_commands.json"), encoding="utf-8") as f:
        entries = json.load(f)
    mine = [e for e in entries
            if os.path.relpath(e["file"], root).split(os.sep)[0] in ("engine", "services")]
    failures = checked = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for source, error in pool.map(check_file, mine):
            if error is None:
                continue
            checked += 1
            if error:
                failures += 1
                print(f"== {os.path.relpath(source, root)}\n{error}")
    print(f"{checked} translation units with locks analysed, {failures} refused, "
          f"{len(unchecked)} unchecked locks")
    return 1 if failures or unchecked or checked == 0 else 0


def self_test():
    bad = """
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
class Counter {
 public:
  int Read() { return value_; }  // no lock held: must be refused
 private:
  absl::Mutex mu_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
};
int main() { Counter c; return c.Read(); }
"""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bad.cc")
        with open(path, "w", encoding="utf-8") as f:
            f.write(bad)
        run = subprocess.run([CLANG, "-std=c++17", *FLAGS, path], capture_output=True, text=True)
    ok = run.returncode != 0 and "requires holding mutex" in run.stderr
    print(("caught" if ok else "NOT CAUGHT") + ": a guarded member read without its lock")
    if not ok:
        print(run.stderr)
    with tempfile.TemporaryDirectory() as d:
        os.makedirs(os.path.join(d, "engine"))
        with open(os.path.join(d, "engine", "queue.h"), "w", encoding="utf-8") as f:
            f.write("std::mutex mu_;\nint depth_ = 0;  // guarded by mu_\n")
        found = unchecked_locks(d)
    caught = len(found) == 2
    print(("caught" if caught else "NOT CAUGHT") + ": a std::mutex and a guarded-by comment")
    return 0 if ok and caught else 1


def main(argv):
    if not CLANG:
        print("clang++ not found (Debian: apt install clang)")
        return 1
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    build_dir = os.path.abspath(argv[1])
    root = os.path.abspath(argv[2] if len(argv) > 2 else os.path.join(os.path.dirname(__file__),
                                                                         "..", ".."))
    return check(build_dir, root)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
