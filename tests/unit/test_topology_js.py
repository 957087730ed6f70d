"""The map script (web/static/topology.js) in Debian's Chromium, headless: the
page `vnetlab graph -o X.html` writes draws every node and edge at Graphviz's
positions, and `map.update` changes state classes without moving nodes or
dropping what an overlay added."""

from __future__ import annotations

import copy
import pathlib
import shutil

import pytest

from vnetlab.io import topology_render
from vnetlab.io.topology import topology_of
from vnetlab.model import load_lab

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"  # make install installs it
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser.new_page(viewport={"width": 1000, "height": 700})
        finally:
            browser.close()


def test_the_page_draws_the_topology_and_update_changes_only_state(page, tmp_path):
    topology = topology_render.with_positions(topology_of(load_lab(EXAMPLES / "proxmox-tap.yaml")))
    html = tmp_path / "tap.html"
    html.write_text(topology_render.to_html(topology))
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(html.as_uri())
    page.wait_for_function("window.vnetlabMap !== undefined")
    drawn = page.evaluate("""() => { const cy = window.vnetlabMap.cy; return {
        nodes: cy.nodes().map(n => n.id()).sort(), edges: cy.edges().map(e => e.id()).sort(),
        parent: cy.getElementById('pve/vmbr0').data('parent'),
        tap: cy.getElementById('link:0').hasClass('tap'),
        vm100: cy.getElementById('vm100').position()}; }""")
    assert drawn["nodes"] == sorted(n["id"] for n in topology["nodes"])
    assert drawn["edges"] == [f"link:{i}" for i in range(5)] and drawn["tap"] is True
    assert drawn["parent"] == "pve"
    spread = page.evaluate("VnetlabMap.spread")
    at = topology["positions"]["vm100"]
    assert drawn["vm100"] == pytest.approx({"x": at["x"] * spread, "y": at["y"] * spread})  # preset: Graphviz's layout

    cut = copy.deepcopy(topology)
    cut["live"] = True
    cut["edges"][0]["classes"].append("cut")
    cut["edges"][0]["state"] = {"cut": True, "up": False, "impaired": None}
    cut["nodes"][2]["classes"].append("check-failed")
    after = page.evaluate("""(next) => { const map = window.vnetlabMap, cy = map.cy;
        cy.getElementById('vm101').addClass('trace-hop');   // what an overlay adds
        cy.add({group: 'nodes', data: {id: 'overlay-mark'}, position: {x: 5, y: 5}});
        map.update(next);
        return {cut: cy.getElementById('link:0').hasClass('cut'), label: cy.getElementById('link:0').data('label'),
                failed: cy.getElementById(next.nodes[2].id).hasClass('check-failed'),
                hop: cy.getElementById('vm101').hasClass('trace-hop'),
                mark: cy.getElementById('overlay-mark').nonempty(),
                vm100: cy.getElementById('vm100').position(), count: cy.edges().length}; }""", cut)
    assert after["cut"] is True and after["label"] == "cut" and after["failed"] is True
    assert after["hop"] is True and after["mark"] is True  # update leaves an overlay's classes and elements
    assert after["vm100"] == drawn["vm100"] and after["count"] == 5
    back = page.evaluate("""(next) => { const cy = window.vnetlabMap.update(next).cy;
        return cy.getElementById('link:0').hasClass('cut'); }""", topology)
    assert back is False
    assert errors == []
