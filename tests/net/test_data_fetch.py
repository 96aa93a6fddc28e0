"""``phonjax data fetch`` against a local server: index, checks, manifest, licence, resume;
and ``bench --dataset alexandria-pbe`` finding (or asking for) the local copy."""

from __future__ import annotations

import bz2
import csv
import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from phonjax.data.fetch import check_yaml_bz2, fetch, index_files
from phonjax.data.sources import source
from tests.net.server import Route

ROOT = Path(__file__).resolve().parents[2]
KEYS = ("unit_cell", "supercell_matrix", "primitive_matrix", "displacements")


def alexandria_like(n: int) -> bytes:
    text = "".join(f"{k}:\n- {n}\n" for k in KEYS) + "force_constants:\n" + "- 0.0\n" * 2000
    return bz2.compress(text.encode())


def index_page(names, extra=()) -> bytes:
    links = "".join(f'<a href="{n}">{n}</a>\n' for n in [*names, *extra])
    return f"<html><body><a href='../'>Parent</a>\n{links}</body></html>".encode()


@pytest.fixture
def site(server):
    """/pbe/ with mp-1, mp-2, mp-10 (good) and mp-3 (not bz2), listed out of order."""
    files = {f"mp-{i}.yaml.bz2": alexandria_like(i) for i in (10, 2, 1)}
    files["mp-3.yaml.bz2"] = b"<html>oops</html>"
    for name, body in files.items():
        server.routes[f"/pbe/{name}"] = Route(body)
    server.routes["/pbe/"] = Route(index_page(files, ["readme.txt", "?C=M;O=A"]),
                                   content_type="text/html")
    src = dataclasses.replace(source("alexandria-pbe"), index_url=server.url("/pbe/"))
    return server, src, files


def test_fetch_checks_every_file_and_writes_manifest_and_licence(site, online, tmp_path):
    server, src, files = site
    report = fetch(src, tmp_path, connections=3, retries=0)
    assert (report.listed, report.fetched) == (4, 3)
    assert len(report.failures) == 1 and report.failures[0].startswith("mp-3.yaml.bz2: bad content")
    assert "\n" not in report.failures[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "LICENSE.md", "manifest.csv", "mp-1.yaml.bz2", "mp-10.yaml.bz2", "mp-2.yaml.bz2"]
    with open(tmp_path / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["file"] for r in rows] == ["mp-1.yaml.bz2", "mp-2.yaml.bz2", "mp-10.yaml.bz2"]
    for r in rows:
        body = files[r["file"]]
        assert r["sha256"] == hashlib.sha256(body).hexdigest() and int(r["size_bytes"]) == len(body)
        assert r["url"] == server.url(f"/pbe/{r['file']}")
    licence = (tmp_path / "LICENSE.md").read_text()
    assert "CC BY 4.0" in licence and "creativecommons.org/licenses/by/4.0" in licence
    assert "10.1038/s41524-025-01650-1" in licence


def test_limit_takes_the_first_by_material_number_and_rerun_fetches_nothing(site, online, tmp_path):
    server, src, _ = site
    first = fetch(src, tmp_path, limit=2)
    assert first.fetched == 2 and sorted(p.name for p in tmp_path.glob("mp-*")) == [
        "mp-1.yaml.bz2", "mp-2.yaml.bz2"]
    n_requests = len(server.requests)
    again = fetch(src, tmp_path, limit=2)
    assert (again.present, again.fetched) == (2, 0)
    assert len(server.requests) == n_requests + 1  # the index page only


def test_files_present_but_not_in_the_manifest_are_checked_not_refetched(site, online, tmp_path):
    server, src, files = site
    (tmp_path / "mp-1.yaml.bz2").write_bytes(files["mp-1.yaml.bz2"])  # e.g. copied by hand
    (tmp_path / "mp-2.yaml.bz2").write_bytes(files["mp-2.yaml.bz2"][:50])  # cut short
    report = fetch(src, tmp_path, limit=2)
    assert (report.adopted, report.fetched) == (1, 1)
    assert server.gets("/pbe/mp-1.yaml.bz2") == []
    assert (tmp_path / "mp-2.yaml.bz2").read_bytes() == files["mp-2.yaml.bz2"]


def test_published_checksums_are_enforced(site, online, tmp_path):
    server, src, files = site
    sums = "".join(f"{hashlib.sha256(b).hexdigest()}  {n}\n" for n, b in files.items())
    sums = sums.replace(hashlib.sha256(files["mp-2.yaml.bz2"]).hexdigest(), "0" * 64)
    server.routes["/pbe/SHA256SUMS"] = Route(sums.encode())
    server.routes["/pbe/"] = Route(index_page(files, ["SHA256SUMS"]))
    report = fetch(src, tmp_path, retries=0)
    assert report.published_hashes == 4 and report.fetched == 2
    assert any(f.startswith("mp-2.yaml.bz2") and "published" in f for f in report.failures)
    assert not (tmp_path / "mp-2.yaml.bz2").exists()


def test_truncated_file_is_retried_and_resumed(site, online, tmp_path):
    server, src, files = site
    body = files["mp-10.yaml.bz2"]
    server.routes["/pbe/mp-10.yaml.bz2"] = Route(body, truncate_at=len(body) // 2, faults=1)
    report = fetch(src, tmp_path, retries=1)
    assert report.fetched == 3 and (tmp_path / "mp-10.yaml.bz2").read_bytes() == body
    assert server.gets("/pbe/mp-10.yaml.bz2")[-1].headers["Range"] == f"bytes={len(body) // 2}-"


def test_index_parsing_and_format_check(tmp_path):
    html = index_page(["mp-10.yaml.bz2", "mp-9.yaml.bz2", "x.txt"], ["md5sums.txt"]).decode()
    names, sums = index_files(html, "http://h/pbe/", r"mp-\d+\.yaml\.bz2")
    assert names == ["mp-9.yaml.bz2", "mp-10.yaml.bz2"] and sums == ["http://h/pbe/md5sums.txt"]
    good, cut = tmp_path / "good.bz2", tmp_path / "cut.bz2"
    good.write_bytes(alexandria_like(1))
    cut.write_bytes(alexandria_like(1)[:-20])
    check_yaml_bz2(good, KEYS)
    with pytest.raises(ValueError, match="not a complete bz2 file"):
        check_yaml_bz2(cut, KEYS)
    with pytest.raises(ValueError, match="YAML lacks nsites"):
        check_yaml_bz2(good, ("unit_cell", "nsites"))


def _cli(*args, env_extra=None):
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / ".shim")]),
           **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "phonjax", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def test_cli_fetch_from_a_mirror_and_offline(site, tmp_path):
    server, _, _ = site
    out = _cli("data", "fetch", "alexandria-pbe", "--limit", "2", "--to", str(tmp_path / "a"),
               "--from", server.url("/pbe/"), env_extra={"PHONJAX_OFFLINE": "0",
                                                          "NO_PROXY": "127.0.0.1"})
    assert out.returncode == 0, out.stderr
    assert "2 fetched" in out.stderr and "CC BY 4.0" in out.stderr
    assert len(list((tmp_path / "a").glob("mp-*.yaml.bz2"))) == 2
    n = len(server.requests)
    out = _cli("data", "fetch", "alexandria-pbe", "--offline", "--to", str(tmp_path / "b"),
               "--from", server.url("/pbe/"), env_extra={"PHONJAX_OFFLINE": "0"})
    assert out.returncode == 1 and "offline" in out.stderr and len(server.requests) == n


def test_bench_dataset_name_uses_the_local_copy_or_says_how_to_fetch(tmp_path, monkeypatch):
    from phonjax.bench.inputs import InputError, list_materials

    monkeypatch.setenv("PHONJAX_DATA", str(tmp_path))
    with pytest.raises(InputError, match=r"phonjax data fetch alexandria-pbe.*--limit N"):
        list_materials(["alexandria-pbe"])
    out = _cli("bench", "--dataset", "alexandria-pbe", "--no-figures", "--out",
               str(tmp_path / "res"), env_extra={"PHONJAX_DATA": str(tmp_path)})
    assert out.returncode == 2 and "phonjax data fetch alexandria-pbe" in out.stderr
    folder = tmp_path / "alexandria-pbe"
    folder.mkdir()
    for i in (5, 7):
        (folder / f"mp-{i}.yaml.bz2").write_bytes(alexandria_like(i))
    (folder / "mp-9.yaml.bz2.part").write_bytes(b"half")  # an unfinished transfer: not listed
    label, materials, problems = list_materials(["alexandria-pbe"])
    assert label == "alexandria-pbe" and problems == []
    assert [m.material_id for m in materials] == ["mp-5", "mp-7"]


def _read_only_folder(folder):
    """``folder``, made unwritable (chmod, or chattr +i where root ignores the mode); a
    callable that undoes it. Skips where neither works."""
    import os

    folder.mkdir()
    folder.chmod(0o555)
    if not os.access(folder, os.W_OK):
        return lambda: folder.chmod(0o755)
    folder.chmod(0o755)
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("cannot make a folder read-only here (chmod, chattr)")
    return lambda: subprocess.run(["chattr", "-i", str(folder)], capture_output=True)


def test_cli_fetch_to_a_file_or_a_read_only_folder_is_one_line(site, online, tmp_path, capsys,
                                                               monkeypatch):
    import os

    from phonjax.data.cli import main as data_main

    server, _, _ = site
    (tmp_path / "afile").write_text("a file")
    read_only = tmp_path / "ro"
    undo = _read_only_folder(read_only)
    try:
        for to, code, message in (
                (tmp_path / "afile", 2, f"--to {tmp_path / 'afile'} is a file: give --to a folder"),
                (tmp_path / "afile" / "sub", 2, f"is inside {tmp_path / 'afile'}, which is a file"),
                (read_only, 2, f"--to {read_only} cannot be written (permission denied): give "
                               "--to a folder you can write")):
            assert data_main(["fetch", "alexandria-pbe", "--from", server.url("/pbe/"),
                              "--to", str(to), "--retries", "0"]) == code
            err = capsys.readouterr().err
            assert err.strip().startswith("error: ") and message in err, err
            assert len(err.strip().splitlines()) == 1, err
        # where the folder looks writable but is not (found only when writing): one line too
        monkeypatch.setattr(os, "access", lambda *args, **kwargs: True)
        assert data_main(["fetch", "alexandria-pbe", "--from", server.url("/pbe/"),
                          "--to", str(read_only), "--retries", "0"]) == 1
        last = capsys.readouterr().err.strip().splitlines()[-1]
        assert last.startswith(f"error: cannot write {read_only}") and "--to" in last, last
    finally:
        undo()
    assert not list(read_only.iterdir())


def test_pinned_kappa_files_are_fetched_checked_and_found_by_the_bench(server, online, tmp_path,
                                                                        monkeypatch):
    """``kappa-phonondb-pbe``: pinned files, each against its SHA-256 (a corrupted one
    fails alone), then ``kappa_reference`` finds them in the data folder."""
    from phonjax.bench import kappa_reference

    shared = kappa_reference.SHARED_FOLDER
    src = dataclasses.replace(source("kappa-phonondb-pbe"), index_url=server.url("/k/"))
    assert len(src.files) == 4 and src.licence == "GPL-3.0"
    for name, path, _ in src.files:
        if not (shared / name).is_file():
            pytest.skip("the κ benchmark data are not on this machine")
        server.routes[f"/k/{path}"] = Route((shared / name).read_bytes())
    server.routes["/k/data/mp_id-phonondb_id.txt"] = Route(b"tampered")
    report = fetch(src, tmp_path / "kappa-phonondb-pbe", retries=0)
    assert report.fetched == 3 and len(report.failures) == 1
    assert report.failures[0].startswith("mp_id-phonondb_id.txt")
    assert "GPL-3.0" in (tmp_path / "kappa-phonondb-pbe" / "LICENSE.md").read_text()
    server.routes["/k/data/mp_id-phonondb_id.txt"] = Route(
        (shared / "mp_id-phonondb_id.txt").read_bytes())
    report = fetch(src, tmp_path / "kappa-phonondb-pbe", retries=0)
    assert (report.present, report.fetched, report.failures) == (3, 1, [])
    monkeypatch.setenv("PHONJAX_DATA", str(tmp_path))
    monkeypatch.delenv("PHONJAX_KAPPA_DATA", raising=False)
    monkeypatch.setattr(kappa_reference, "SHARED_FOLDER", tmp_path / "nowhere")
    assert kappa_reference.default_folder() == tmp_path / "kappa-phonondb-pbe"
    assert len(kappa_reference.load_benchmark()) == 103
    monkeypatch.setenv("PHONJAX_DATA", str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="phonjax data fetch kappa-phonondb-pbe"):
        kappa_reference.default_folder()
