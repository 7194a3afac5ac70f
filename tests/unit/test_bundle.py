"""Reading a bundle's manifest (the save/load round trip itself runs in tests/scenarios/test_bundle.py)."""

import io
import json
import tarfile

import pytest

from faultlab.errors import InputError
from faultlab.infra import bundle


def test_a_bundle_lists_the_tags_of_every_image_it_holds(tmp_path):
    manifest = json.dumps([{"Config": "a.json", "RepoTags": ["faultlab/debian-base:bookworm"], "Layers": []},
                           {"Config": "b.json", "RepoTags": ["faultlab/nginx:8167e1286f7e"], "Layers": []}]).encode()
    path = tmp_path / "bundle.tar"
    with tarfile.open(path, "w") as archive:
        member = tarfile.TarInfo("manifest.json")
        member.size = len(manifest)
        archive.addfile(member, io.BytesIO(manifest))
    assert bundle.contents(path) == ["faultlab/debian-base:bookworm", "faultlab/nginx:8167e1286f7e"]


def test_any_other_file_is_refused_with_a_sentence(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a tar")
    with pytest.raises(InputError, match="is not an image bundle"):
        bundle.contents(path)
