#!/usr/bin/env python3
"""Every C++ source of the project is as clang-format (.clang-format) leaves it.

  tests/architecture/check_format.py [ROOT]     # exit 1 naming each file that differs
  tests/architecture/check_format.py --fix [ROOT]
  tests/architecture/check_format.py --self-test

The check runs clang-format on each file and compares its output with the
file, so that a newer clang-format that would change nothing passes too.
"""

import concurrent.futures
import os
import shutil
import subprocess
import sys

FOLDERS = ("engine", "services", "tests")
CLANG_FORMAT = shutil.which("clang-format-14") or shutil.which("clang-format")


def sources(root):
    for folder in FOLDERS:
        for base, dirs, names in os.walk(os.path.join(root, folder)):
            dirs[:] = [d for d in dirs if d != "node_modules"]
            for name in sorted(names):
                if name.endswith((".h", ".cc")):
                    yield os.path.join(base, name)


def formatted(path):
    run = subprocess.run([CLANG_FORMAT, "--style=file", path], capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"clang-format failed on {path}: {run.stderr}")
    return path, run.stdout


def self_test():
    """A file with a line over the limit is named; the same file fixed is not."""
    import tempfile
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory() as d:
        shutil.copy(os.path.join(here, "..", "..", ".clang-format"), d)
        os.makedirs(os.path.join(d, "engine"))
        path = os.path.join(d, "engine", "long.h")
        with open(path, "w", encoding="utf-8") as f:
            f.write("int f(int a,int b){return a+b;}\n")
        caught = main(["check_format.py", d]) == 1
        main(["check_format.py", "--fix", d])
        clean = main(["check_format.py", d]) == 0
    print(("caught" if caught else "NOT CAUGHT") + ": a file clang-format would change")
    print(("passed" if clean else "NOT PASSED") + ": the same file once fixed")
    return 0 if caught and clean else 1


def main(argv):
    if not CLANG_FORMAT:
        print("clang-format not found (Debian: apt install clang-format)")
        return 1
    if "--self-test" in argv:
        return self_test()
    fix = "--fix" in argv
    args = [a for a in argv[1:] if a != "--fix"]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), "..", ".."))
    differ = []
    files = list(sources(root))
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for path, text in pool.map(formatted, files):
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    continue
            differ.append(os.path.relpath(path, root))
            if fix:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
    for path in differ:
        print(("formatted: " if fix else "not formatted: ") + path)
    print(f"{len(files)} files, {len(differ)} {'reformatted' if fix else 'not formatted'}")
    if not fix and differ:
        print("run tests/architecture/check_format.py --fix")
    return 1 if differ and not fix else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
