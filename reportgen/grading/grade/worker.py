"""One submission checked in a process of its own, under grade's time and memory limits: the JSON outcome on stdout."""

from __future__ import annotations

import json
import resource
import sys


def main() -> int:
    """Read {"folder", "print", "code"} from stdin, check the folder, answer the outcome with its peak memory."""
    from reportgen.grading.grade.checking import grade_one

    request = json.loads(sys.stdin.read())
    outcome = grade_one(request["folder"], request["print"], request["code"])
    outcome["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    sys.stdout.write(json.dumps(outcome))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
