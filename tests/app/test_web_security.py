"""The web app served beyond localhost: the warning, the login, the bounded queue and cache."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from app.cli.demo import exposure_warning
from app.web.app import WebApp
from app.web.config import WebConfig
from app.web.viewer import VIEWER_FILES, RerunViewer, free_port


def test_serving_beyond_loopback_warns_and_names_the_login_option() -> None:
    assert exposure_warning(WebConfig()) is None
    assert exposure_warning(WebConfig(host="::1")) is None
    open_warning = exposure_warning(WebConfig(host="0.0.0.0", auth=""))
    assert "no login" in open_warning and "--auth" in open_warning and "WORLDFM_AUTH" in open_warning
    assert "login is required" in exposure_warning(WebConfig(host="0.0.0.0", auth="me:secret"))


def test_auth_comes_from_the_option_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLDFM_AUTH", raising=False)
    assert WebConfig().credentials is None
    assert WebConfig(auth="me:a:b").credentials == ("me", "a:b")
    monkeypatch.setenv("WORLDFM_AUTH", "env:pass")
    assert WebConfig().credentials == ("env", "pass")
    assert "pass" not in repr(WebConfig())
    for bad in ("nopassword", ":pass", "user:"):
        with pytest.raises(ValueError, match="USER:PASS"):
            WebConfig(auth=bad)


def test_app_with_auth_refuses_requests_until_logged_in_and_bounds_queue_and_cache(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    config = WebConfig(
        port=free_port(), checkpoints=tmp_path / "checkpoints", out=tmp_path / "out", rerun_port=0,
        auth="me:secret", queue_size=3, cache_minutes=2,
    )  # fmt: skip
    web = WebApp(config)
    url = web.launch(block=False)
    try:
        assert httpx.get(f"{url}config", timeout=10).status_code == 401
        with httpx.Client(base_url=url, timeout=10) as client:
            bad = client.post("login", data={"username": "me", "password": "wrong"})
            assert bad.status_code == 400
            good = client.post("login", data={"username": "me", "password": "secret"})
            assert good.status_code == 200 and client.get("config").status_code == 200
        assert web.blocks._queue.max_size == 3
        assert web.blocks.delete_cache == (120, 120)
    finally:
        web.close()


def non_loopback_ipv4() -> str | None:
    import psutil

    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                return a.address
    return None


def test_rerun_viewer_listens_where_the_app_does_and_only_there(tmp_path: Path) -> None:
    cache = tmp_path / "viewer"
    cache.mkdir()
    for name in VIEWER_FILES:  # a copied viewer (the real copy is checked in test_web_browser.py)
        (cache / name).write_bytes(b"<html></html>" if name == "index.html" else b"x")
    web = WebApp(WebConfig(checkpoints=tmp_path, out=tmp_path / "out", rerun_port=0))
    assert web.viewer.host == "127.0.0.1"
    viewer = RerunViewer(0, web.viewer.host, cache=cache)
    port = viewer.ensure_started()
    try:
        assert viewer._server.server_address[0] == "127.0.0.1"
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
        outside = non_loopback_ipv4()
        if outside is not None:
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{outside}:{port}/", timeout=5)
    finally:
        viewer.close()
        web.close()
