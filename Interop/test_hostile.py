"""Hostile inputs end clean (issue 12): every case in `hostile.py` gives a result (exit 0) or
one `Error:` line naming the offending file (exit 1) — never a trap, a backtrace, a hang, an
out-of-memory abort, a leftover temporary file or a surviving child process. Each case runs
under an address-space limit (RLIMIT_AS), so a request for more memory than the process may
use must be refused with a message, not attempted. The summary line `hostile inputs:
tried=N clean=N` is printed at the end of the session (and quoted in the README)."""
import os
import pathlib
import resource
import signal
import subprocess
import time

import pytest

import hostile

BINARY = pathlib.Path(os.environ.get("OCTET", pathlib.Path(__file__).resolve().parent.parent / ".build" / "debug" / "octet"))
RESULTS = {}
CASES = hostile.all_cases()


def survivors(marker):
    """Processes (other than this one) whose environment carries `marker`."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def check(case, folder):
    """Runs one case; returns a list of problems (empty when it ended clean)."""
    run = case.build(folder)
    before = {p for p in folder.rglob("*")}
    contents = {p: p.read_bytes() for p in before if p.is_file() and not p.is_symlink()}
    temporary = folder / "tmp"
    temporary.mkdir()
    marker = f"OCTET_HOSTILE_CASE={os.getpid()}-{id(case)}-{time.monotonic_ns()}"
    env = dict(os.environ, TMPDIR=str(temporary), OCTET_HOSTILE_CASE=marker.split("=", 1)[1])
    started = time.monotonic()
    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (run.memory_limit, run.memory_limit))

    process = subprocess.Popen([str(BINARY), *map(str, run.args)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, preexec_fn=limit_memory, start_new_session=True)
    problems = []
    try:
        if run.signal_on_file:
            while process.poll() is None and not list(folder.glob(run.signal_on_file)):
                time.sleep(0.005)
        if run.signal_after or run.signal_on_file:
            time.sleep(run.signal_after)
            if run.signal_group:
                os.killpg(process.pid, run.signal)
            else:
                process.send_signal(run.signal)
        stdout, stderr = process.communicate(run.stdin, timeout=run.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        problems.append(f"hung: still running after {run.timeout:.0f} s")
    elapsed = time.monotonic() - started
    text = stderr.decode("utf-8", "replace")
    code = process.returncode
    if run.expect_exit and code != run.expect_exit:
        problems.append(f"exit {code}, expected {run.expect_exit}")
    elif not run.expect_exit and code not in run.exit_codes + (64,):
        problems.append(f"exit {code}")
    if code in (1, 64):  # 64: a usage error found while validating options
        errors = [line for line in text.splitlines() if line.startswith("Error:")]
        if len(errors) != 1:
            problems.append(f"{len(errors)} 'Error:' lines")
        elif run.names not in text[text.index("Error:"):]:
            problems.append(f"the error does not name {run.names!r}")
        if max(map(len, text.splitlines()), default=0) > 2100:
            problems.append("a line of stderr is longer than 2,100 characters")
    for sign in ("Fatal error", "Stack dump", "Current stack trace", "Illegal instruction", "Segmentation fault"):
        if sign in text:
            problems.append(f"stderr has '{sign}'")
    left = [p.name for p in temporary.rglob("*")]
    if left:
        problems.append(f"left in TMPDIR: {left[:5]}")
    after = {p for p in folder.rglob("*") if not p.is_relative_to(temporary)} - before - {temporary}
    stray = [p.name for p in after if ".tmp" in p.name or p.name.startswith(".")]
    if stray:
        problems.append(f"left temporary files: {stray[:5]}")
    changed = [p.name for p, data in contents.items() if not p.exists() or p.read_bytes() != data]
    if changed:
        problems.append(f"inputs changed or removed: {changed[:5]}")
    deadline = time.monotonic() + 5
    while (alive := survivors(marker.split("=", 1)[1])) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive:
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        problems.append(f"{len(alive)} child process(es) survived")
    if problems:
        problems.append(f"after {elapsed:.1f} s; stderr: {text[-1500:]}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=[f"{c.group}/{c.name}" for c in CASES])
def test_hostile_input_ends_clean(tmp_path, case):
    problems = check(case, tmp_path)
    RESULTS[f"{case.group}/{case.name}"] = not problems
    if problems and os.environ.get("HOSTILE_REPORT"):
        with open(os.environ["HOSTILE_REPORT"], "a") as report:
            first = problems[-1].splitlines()[0][:300] if problems[-1].startswith("after") else ""
            report.write(f"{case.group}/{case.name}\t{'; '.join(problems[:-1])}\t{first}\n")
    assert not problems, "; ".join(problems)


def summary():
    """`tried=N clean=N` over the cases run so far, with per-group counts."""
    if not RESULTS:
        return None
    groups = {}
    for key, clean in RESULTS.items():
        tried_clean = groups.setdefault(key.split("/")[0], [0, 0])
        tried_clean[0] += 1
        tried_clean[1] += clean
    detail = ", ".join(f"{group} {c}/{t}" for group, (t, c) in sorted(groups.items()))
    return f"hostile inputs: tried={len(RESULTS)} clean={sum(RESULTS.values())} ({detail})"


def numpy_reads(path):
    """True when NumPy loads every array of the archive (and its CRCs hold)."""
    import warnings

    import numpy as np

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with np.load(path) as archive:
                return all(isinstance(archive[key], np.ndarray) for key in archive.files)
    except Exception:
        return False


# Where Octet deliberately differs from `np.load`, and why. NumPy checks a member's size and
# CRC only when a read reaches its end, and the .npy reader stops after the bytes the header
# asks for, so size lies and truncated directories pass unnoticed there.
DIFFERENCES = {
    "duplicate-members": "NumPy silently takes the last of two members with one name; Octet refuses the ambiguity",
    "name-length-huge": "NumPy reads a name running past the directory's end by truncating it; Octet refuses",
    "extra-length-huge": "the same for an extra field running past the directory's end",
    "size-lie-large-stored": "a stored member declaring more bytes than the file has is a size lie",
    "size-lie-deflated-declares-1KiB": "a deflated member inflating to other than its declared size is a size lie",
    "size-lie-deflated-declares-more": "a member declaring more than deflate can expand from its compressed bytes",
    "zip64-declares-2^45": "a ZIP64 size larger than the file",
    "zip64-declares-2^63": "a ZIP64 size no file can have",
    "prepended-junk": "np.load sniffs the first bytes and then tries pickle; Octet reads the ZIP as zipfile does",
    "directory-member": "np.load returns a folder entry as bytes; Octet skips empty folder entries",
}


@pytest.mark.parametrize("name", sorted(hostile.zip_variants(__import__("numpy").ones((2, 4), "float32"))))
def test_octet_reads_the_archives_numpy_reads(tmp_path, name, octet):
    """Structural oddities NumPy accepts (a wrong entry count, a prepended stub, code-page
    names) are read; what NumPy refuses (bad CRCs, size lies, broken offsets) is an error."""
    import numpy as np

    data = hostile.zip_variants(np.ones((2, 4), np.float32))[name]
    path = tmp_path / "calib.npz"
    path.write_bytes(data)
    result = octet("data", "check", hostile.simple_model(tmp_path), "--calibration-data", path, check=False)
    expected = numpy_reads(path) != (name in DIFFERENCES)
    readable = result.returncode == 0 or "does not fit the model's inputs" in result.stderr or "holds no arrays" in result.stderr
    assert readable == expected, f"NumPy {'reads' if expected else 'refuses'} it; octet: {result.stderr[-800:]}"
