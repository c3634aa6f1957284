"""Shared by bench scripts: wall time and peak RSS from a `/usr/bin/time -v` report."""
import re


def time_report(path):
    """(wall seconds, peak RSS bytes), or (None, None) when the report is missing."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None, None
    m = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    wall = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    r = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    return wall, (int(r.group(1)) * 1024 if r else None)
