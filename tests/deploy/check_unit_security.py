#!/usr/bin/env python3
"""The shipped systemd unit stays hardened.

Runs `systemd-analyze security --offline=true` on deploy/systemd/gridcased.service
and fails when its overall exposure is above the limit (2.0; 10 is
"UNSAFE"), printing the settings systemd counts against it.

  check_unit_security.py UNIT [LIMIT]
"""
import re
import subprocess
import sys


def main():
    unit = sys.argv[1]
    limit = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
    run = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", unit],
                         capture_output=True, text=True)
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", run.stdout + run.stderr)
    if match is None:
        print(run.stdout + run.stderr)
        print("no exposure level in systemd-analyze's answer")
        return 1
    level = float(match.group(1))
    print(f"{unit}: exposure {level} (limit {limit})")
    if level > limit:
        print("\n".join(line for line in run.stdout.splitlines() if "✗" in line))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
