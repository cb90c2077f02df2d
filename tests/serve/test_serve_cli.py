"""``lmforge serve`` as a user runs it: starts, answers with the key, shuts down gracefully on Ctrl-C / SIGTERM."""

import signal
import subprocess
import sys
import time

import httpx
import pytest


def start(model_dir, port, *args):
    return subprocess.Popen([sys.executable, "-m", "lmforge.cli.main", "serve", str(model_dir), "--port", str(port),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_up(proc, url):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            return httpx.get(url + "/health", timeout=1).json()
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_serve_command_requires_the_key_and_shuts_down_cleanly(model_dir, port, sig):
    url = f"http://127.0.0.1:{port}"
    proc = start(model_dir, port, "--api-key", "s3cret", "--model-name", "mine")
    try:
        assert wait_up(proc, url)["model"] == "mine"
        assert httpx.get(url + "/v1/models").status_code == 401
        models = httpx.get(url + "/v1/models", headers={"Authorization": "Bearer s3cret"}).json()
        assert models["data"][0]["id"] == "mine"
        assert "<title>lmforge chat</title>" in httpx.get(url + "/").text
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
        # uvicorn re-raises SIGTERM after its graceful shutdown, so a process manager sees the usual status
        assert proc.returncode in (0, -sig), err
        assert "serving 'mine'" in out and "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_command_reports_a_bad_model_dir_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "lmforge.cli.main", "serve", str(tmp_path / "nope")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "model directory not found" in result.stderr
    assert "Traceback" not in result.stderr
