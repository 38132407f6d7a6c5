"""``attest screen`` and ``attest lists`` as a user runs them, with a real local HTTP server."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

from tests.conftest import CliRunner
from tests.policy.test_screening import CSL_JSON


def test_screen_exit_codes(cli: CliRunner) -> None:
    assert "el-zhipu" in cli("screen", "Zhipu AI", "--format", "json", check_code=3).stdout
    out = json.loads(cli("screen", "Alibaba Cloud (Singapore) Pte. Ltd.", "--format", "json", check_code=1).stdout)
    assert out["matches"][0]["kind"] == "near" and {"list", "entry", "matched_name", "score"} <= set(out["matches"][0])
    assert "no match" in cli("screen", "Example Robotics Inc.", check_code=0).stdout
    assert "el-inspur" in cli("screen", "Example (SG) Pte. Ltd.", "--parent", "Inspur Group", "--format", "json", check_code=3).stdout
    assert "--threshold" in cli("screen", "x", "--threshold", "20", check_code=2).stderr


def test_a_name_with_nothing_to_screen_is_a_usage_error(cli: CliRunner) -> None:
    # "attest screen "$TENANT"" with TENANT unset must not report "no match"
    for empty in ["", "   ", "\u202e\u200b", "..."]:
        assert "nothing to screen" in cli("screen", empty, check_code=2).stderr
    assert "nothing to screen" in cli("screen", "Example Robotics Inc.", "--parent", "", check_code=2).stderr


def test_lists_import_show_and_screen(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "csl.json").write_text(json.dumps(CSL_JSON))
    out = cli("lists", "import", "csl.json", "--lists-dir", "lists", check_code=0).stdout
    assert "imported 2 entries" in out and "entity-list" in out
    assert "2 entries" in cli("lists", "show", "csl", "--lists-dir", "lists", check_code=0).stdout
    assert "e1" in cli("screen", "EACC", "--lists-dir", "lists", "--format", "json", check_code=3).stdout
    assert "is not imported" in cli("screen", "x", "--list", "other", "--lists-dir", "lists", check_code=2).stderr


def test_lists_update_from_a_local_server(cli: CliRunner, tmp_path: Path) -> None:
    body = json.dumps(CSL_JSON).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/consolidated.json":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        out = cli("lists", "update", "--url", f"{url}/consolidated.json", "--lists-dir", "lists", check_code=0).stdout
        assert "imported 2 entries" in out
        err = cli("lists", "update", "--url", f"{url}/missing.json", "--lists-dir", "lists", check_code=2).stderr
        assert "could not download" in err and "attest lists import" in err
    finally:
        server.shutdown()


def test_lists_status_shows_the_bundled_lists(cli: CliRunner) -> None:
    status = json.loads(cli("lists", "status", "--lists-dir", "lists", "--format", "json", check_code=0).stdout)
    rows = {r["name"]: r for r in status["lists"]}
    assert (rows["csl"]["date"], rows["csl"]["entries"]) == ("2026-07-31", 25921)
    assert rows["csl"]["lists"]["entity-list"] == 3420 and rows["csl"]["origin"].startswith("bundled")
    assert (rows["1260h"]["date"], rows["1260h"]["entries"]) == ("2026-06-10", 80)
    assert "MIT" in status["notice"]
    text = cli("lists", "status", "--lists-dir", "lists", check_code=0).stdout
    assert "csl      2026-07-31  25,921 entries" in text


def test_imports_of_the_projection_and_the_1260h_list_replace_the_bundled(cli: CliRunner, tmp_path: Path) -> None:
    from attest.policy.screening import BUNDLED_LISTS

    data = Path(__file__).resolve().parents[2] / "attest" / "policy" / "data"
    out = cli("lists", "import", str(data / BUNDLED_LISTS["csl"]), "--name", "csl", "--lists-dir", "lists", check_code=0).stdout
    assert "imported 25921 entries" in out and "of 2026-07-31" in out
    (tmp_path / "dod.json").write_text(json.dumps({
        "list": "DoD 1260H", "federal_register": "92 FR 1", "effective_date": "2027-01-15",
        "entities": [{"name": "Example Military Robotics Co., Ltd.", "aliases": ["ExMil"], "country": "China"}]}))
    assert "imported 1 entries" in cli("lists", "import", "dod.json", "--name", "1260h", "--lists-dir", "lists", check_code=0).stdout
    status = json.loads(cli("lists", "status", "--lists-dir", "lists", "--format", "json", check_code=0).stdout)
    rows = {r["name"]: r for r in status["lists"]}
    assert rows["1260h"]["entries"] == 1 and "replaces the bundled 1260h of 2026-06-10" in rows["1260h"]["origin"]
    hit = json.loads(cli("screen", "ExMil", "--lists-dir", "lists", "--format", "json", check_code=3).stdout)
    assert hit["matches"][0]["list_source"] == {"name": "1260h", "date": "2027-01-15", "entries": 1}
    (tmp_path / "bad.json").write_text('{"entities": [{"aliases": []}], "effective_date": "2027-01-15"}')
    assert "needs a name" in cli("lists", "import", "bad.json", "--lists-dir", "lists", check_code=2).stderr
    (tmp_path / "bad.gz").write_bytes(b"\x1f\x8b\x08garbage")
    assert "gzip" in cli("lists", "import", "bad.gz", "--lists-dir", "lists", check_code=2).stderr
