import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def octet():
    """Runs the built octet binary (OCTET=path overrides .build/debug/octet)."""
    binary = pathlib.Path(os.environ.get("OCTET", ROOT / ".build" / "debug" / "octet"))
    assert binary.exists(), f"build octet first (swift build): {binary} is missing"

    def run(*args, check=True, timeout=None):
        result = subprocess.run([str(binary), *map(str, args)], capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"octet {' '.join(map(str, args))} exited {result.returncode}:\n{result.stderr}")
        return result

    return run


@pytest.fixture(scope="session")
def demo(octet, tmp_path_factory):
    """The folder `octet demo` wrote: OCTET_DEMO_OUTPUT, where .ci/run already ran it with the
    release build, or a run here (minutes with a debug build)."""
    folder = os.environ.get("OCTET_DEMO_OUTPUT")
    if folder:
        return pathlib.Path(folder)
    out = tmp_path_factory.mktemp("demo")
    result = octet("demo", "--output-dir", out)
    assert "INT8 kept accuracy" in result.stdout
    return out


def pytest_terminal_summary(terminalreporter):
    """Prints the hostile-input suite's `tried=N clean=N` line when it ran."""
    import sys

    module = sys.modules.get("test_hostile")
    line = module.summary() if module else None
    if line:
        terminalreporter.write_line(line)
