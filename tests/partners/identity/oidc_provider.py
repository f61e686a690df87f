"""Start the real OpenID provider (tests/oidc_provider/provider.mjs, the npm package
`oidc-provider`) on a free loopback port, and drive its login page over HTTP."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx2
import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "tests" / "oidc_provider" / "provider.mjs"
PACKAGE = ROOT / "node_modules" / "oidc-provider" / "package.json"
NODE = shutil.which("node") or "/usr/bin/node"
STARTUP_SECONDS = 20
FORM_ACTION = re.compile(r'<form method="post" action="([^"]+)"')


@dataclass
class RunningProvider:
    """A provider process and its issuer URL."""

    issuer: str
    process: subprocess.Popen[str]


@contextmanager
def running_provider(config: dict[str, Any]) -> Iterator[RunningProvider]:
    """Run the provider with `config` until the block ends; wait for its discovery document."""
    if not PACKAGE.exists():
        pytest.fail("oidc-provider is not installed: run `npm ci` (make test does)", pytrace=False)
    process = subprocess.Popen(
        [NODE, str(SCRIPT), json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            error = process.stderr.read() if process.stderr else ""
            pytest.fail(f"the OpenID provider did not start:\n{error}", pytrace=False)
        issuer = json.loads(line)["issuer"]
        _wait_for_discovery(issuer, process)
        yield RunningProvider(issuer, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()


def _wait_for_discovery(issuer: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the OpenID provider exited with {process.returncode}", pytrace=False)
        try:
            response = httpx2.get(issuer + "/.well-known/openid-configuration", timeout=2)
            if response.status_code == 200 and response.json()["issuer"] == issuer:
                return
        except httpx2.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"the OpenID provider at {issuer} did not answer discovery", pytrace=False)


def log_in_at_provider(authorization_url: str, email: str, password: str, *, stop_at: str) -> str:
    """Follow the authorization request through the provider's login page, as a browser would,
    until it redirects to a URL starting with `stop_at` (the hub's callback); return that URL."""
    with httpx2.Client(timeout=10, follow_redirects=False) as browser:
        url = authorization_url
        for _ in range(10):
            response = browser.get(url)
            if response.status_code in (302, 303):
                url = urljoin(url, response.headers["location"])
                if url.startswith(stop_at):
                    return url
                continue
            match = FORM_ACTION.search(response.text)
            assert response.status_code == 200 and match, response.text[:2000]
            response = browser.post(
                urljoin(url, match.group(1)), data={"login": email, "password": password}
            )
            assert response.status_code in (302, 303), response.text[:2000]
            url = urljoin(url, response.headers["location"])
            if url.startswith(stop_at):
                return url
        raise AssertionError("the provider never redirected back to the hub")
