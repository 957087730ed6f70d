"""`vnetlab course show` as a student reads it (no root needed)."""

from __future__ import annotations

import textwrap

from vnetlab import cli


def test_show_prints_every_word_of_a_long_list_item(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    long_item = "replies to the server's own connections, and the server's traffic to itself through lo, END"
    path = tmp_path / "ex.yaml"
    path.write_text(textwrap.dedent(f"""\
        id: tiny
        title: Tiny
        section: "0. Test"
        intro: |
          Do this:

          - {long_item}
        lab:
          lab: tiny
          nodes:
            a: {{interfaces: {{eth0: {{address: 10.0.0.1/24}}}}}}
            b: {{interfaces: {{eth0: {{address: 10.0.0.2/24}}}}}}
          links: [[a:eth0, b:eth0]]
        tasks:
          - id: reach
            title: a reaches b, a title long enough to need more than one line at sixty columns
            hints: [look]
            checks:
              - {{from: a, to: b, expect: reach}}
        """))
    assert cli.main(["course", "show", str(path), "--student", "zoe"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "through lo, END" in out
    assert "more than one line at sixty columns" in out
