"""The UI's path guard: whatever a request says, nothing outside the root is served."""

from __future__ import annotations

import os

import pytest

from analytics_etl.ui import guard

pytestmark = pytest.mark.unit


@pytest.fixture
def tree(tmp_path):
    """data/ (the root) with a site, a secret beside the root, and symlinks both ways."""
    root = tmp_path / "data"
    (root / "data_docs" / "static").mkdir(parents=True)
    (root / "data_docs" / "index.html").write_text("index")
    (root / "data_docs" / "static" / "style.css").write_text("css")
    (root / "data_docs" / ".lock").write_text("")
    (root / "data_docs" / "%2F").write_text("a file really named %2F")
    (tmp_path / "secret.txt").write_text("secret")
    os.symlink(tmp_path / "secret.txt", root / "data_docs" / "out.txt")
    os.symlink(tmp_path, root / "data_docs" / "up")
    os.symlink(root / "data_docs" / "index.html", root / "data_docs" / "in.html")
    os.symlink(root / "data_docs" / "loop", root / "data_docs" / "loop")
    return root


def test_a_file_below_the_root_is_served_as_its_real_path(tree):
    assert guard.served_file(tree, "data_docs/index.html") == (tree / "data_docs" / "index.html").resolve()
    assert guard.served_file(tree, "data_docs/static/style.css").read_text() == "css"
    assert guard.served_file(tree, "data_docs/in.html").read_text() == "index"  # a symlink that stays inside


@pytest.mark.parametrize(
    "attempt",
    [
        "../secret.txt",
        "data_docs/../../secret.txt",
        "data_docs/./index.html",
        "/etc/passwd",
        "/tmp",
        "data_docs//index.html",
        "data_docs\\..\\..\\secret.txt",
        "data_docs/index.html\x00.png",
        "data_docs/.lock",
        "",
        "data_docs",  # a directory
        "data_docs/static/",
    ],
)
def test_traversal_absolute_hidden_and_odd_paths_are_refused(tree, attempt):
    with pytest.raises(guard.Refused):
        guard.served_file(tree, attempt)


@pytest.mark.parametrize("attempt", ["data_docs/out.txt", "data_docs/up/secret.txt", "data_docs/loop"])
def test_symlinks_out_of_the_root_or_in_a_loop_are_refused(tree, attempt):
    with pytest.raises(guard.Refused):
        guard.served_file(tree, attempt)


def test_encoded_text_is_never_decoded_again(tree):
    # A request's %252F arrives as the text %2F: it names a file of that name, never a separator.
    assert guard.served_file(tree, "data_docs/%2F").read_text() == "a file really named %2F"
    for attempt in ("data_docs/..%2F..%2Fsecret.txt", "..%2Fsecret.txt", "data_docs/%2E%2E/secret.txt"):
        with pytest.raises(guard.Refused):
            guard.served_file(tree, attempt)


def test_inside_checks_paths_a_record_holds(tree, tmp_path):
    assert guard.inside(tree, tree / "data_docs" / "index.html").name == "index.html"
    for outside in (
        tmp_path / "secret.txt",
        tree / "data_docs" / "out.txt",
        tree / "missing.json",
        "/etc/passwd",
    ):
        with pytest.raises(guard.Refused):
            guard.inside(tree, outside)


def test_a_root_that_is_itself_a_symlink_still_serves_its_files(tree, tmp_path):
    link = tmp_path / "data-link"
    os.symlink(tree, link)
    assert guard.served_file(link, "data_docs/index.html").read_text() == "index"
    with pytest.raises(guard.Refused):
        guard.served_file(link, "../secret.txt")
