"""Every fixture in fixtures/bad fails with the messages in its .expected file;
every fixture in fixtures/good loads."""

from pathlib import Path

import pytest

from vnetlab.model import LabFileError, LabSpec, load_lab

FIXTURES = Path(__file__).parent / "fixtures"
BAD = sorted((FIXTURES / "bad").glob("*.yaml"))
GOOD = sorted((FIXTURES / "good").glob("*.yaml"))


@pytest.mark.parametrize("lab_file", BAD, ids=lambda p: p.stem)
def test_bad_lab_file_reports_expected_problems(lab_file, monkeypatch):
    # Load by basename so messages read "case.yaml:LINE: ..." as in .expected.
    monkeypatch.chdir(lab_file.parent)
    expected = lab_file.with_suffix(".expected").read_text().splitlines()
    assert expected, f"{lab_file.name} needs a non-empty .expected file"

    with pytest.raises(LabFileError) as caught:
        load_lab(lab_file.name)

    report = str(caught.value)
    for line in expected:
        assert line in report
    # Lines that start with "FILE:" are whole problems: no more, no fewer
    # (one mistake should give one message, not a cascade).
    problems = [line for line in expected if line.startswith(f"{lab_file.name}:")]
    assert len(caught.value.problems) == len(problems), report


@pytest.mark.parametrize("lab_file", GOOD, ids=lambda p: p.stem)
def test_good_lab_file_loads(lab_file):
    assert isinstance(load_lab(lab_file), LabSpec)


def test_fixture_folders_are_populated():
    assert len(BAD) >= 30 and len(GOOD) >= 4
    assert all(p.with_suffix(".expected").exists() for p in BAD)
