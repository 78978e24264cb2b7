"""`convert --int8 --report F.html` opened in a real browser (headless Chromium): the page of
`octet demo` renders its charts (the SQNR bars and every histogram are in the DOM with the
values of the JSON report, and their colours are on the screenshot), produces no console
message, and loads nothing from elsewhere. The console check is itself checked on a page with
an error."""
import json
import re
from html.parser import HTMLParser

import onnx

from browser import pixels_of, render



class Elements(HTMLParser):
    """Start tags with their attributes, the text inside each <title>, and per histogram figure
    (by its data-tensor) the titles inside it."""

    def __init__(self):
        super().__init__()
        self.tags, self.titles, self.figure_titles = [], [], {}
        self._in_title, self._figure = False, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._in_title = tag == "title"
        if tag == "figure" and "data-tensor" in attrs:
            self._figure = attrs["data-tensor"]
            self.figure_titles[self._figure] = []

    def handle_endtag(self, tag):
        self._in_title = False
        if tag == "figure":
            self._figure = None

    def handle_data(self, data):
        if self._in_title:
            self.titles.append(data)
            if self._figure is not None:
                self.figure_titles[self._figure].append(data)


def parse(dom):
    parser = Elements()
    parser.feed(dom)
    return parser


def test_console_check_sees_errors(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>console.error('boom'); missingFunction();</script></body></html>")
    _, console, _ = render(page, height=200)
    assert any("boom" in m for m in console) and any("missingFunction" in m for m in console), console


def test_demo_report_renders_in_chromium(demo):
    report = json.loads((demo / "report.json").read_text())
    dom, console, image = render(demo / "report.html")
    assert console == [], f"the page wrote to the console: {console}"
    page = parse(dom)
    tags = page.tags

    # Self-contained: no external scripts, styles, images or frames.
    for tag, attrs in tags:
        for key in ("src", "href"):
            assert key not in attrs or attrs[key].startswith("#"), f"<{tag} {key}={attrs[key]}> loads something"
    assert not any(tag in ("link", "img", "iframe") for tag, _ in tags)

    # The SQNR chart: one bar per compared node, with the JSON report's value.
    nodes = report["evaluation"]["nodes"]
    bars = [a for t, a in tags if t == "g" and a.get("class") == "bar"]
    assert len(bars) == len(nodes) > 0
    titles = " | ".join(page.titles)
    for node in nodes:
        assert f"{node['node']} ({node['opType']}): {node['sqnr']:.1f} dB" in titles

    # One histogram per activation behind a QuantizeLinear, each with bins and one chosen line.
    model = onnx.load(str(demo / "model.int8.onnx"))
    constants = {i.name for i in model.graph.initializer}
    activations = list(dict.fromkeys(n.input[0] for n in model.graph.node if n.op_type == "QuantizeLinear" and n.input[0] not in constants))
    figures = [a["data-tensor"] for t, a in tags if t == "figure" and "data-tensor" in a]
    assert figures == activations
    paths = [a for t, a in tags if t == "path" and a.get("class") == "bins"]
    assert len(paths) == len(figures) and all(len(a["d"]) > 100 for a in paths)
    chosen = [a for t, a in tags if t == "line" and a.get("class") == "threshold chosen"]
    assert len(chosen) == len(figures)
    ranges = {r["name"]: r for r in report["ranges"]}
    def drawn(name, method, value):
        lines = [(m.group(1), float(m.group(2))) for m in (re.fullmatch(r"(\w[\w .]*): ([0-9.e+-]+)", t) for t in page.figure_titles[name]) if m]
        return any(m == method and abs(v - value) <= 1e-5 * max(1.0, abs(value)) for m, v in lines)

    for name in figures:
        r = ranges[name]
        assert drawn(name, r["method"], r["amax"]), f"{name}: the chosen line {r['method']} at {r['amax']}"
        assert drawn(name, "minmax", r["absmax"]), f"{name}: the minmax line at max |x| {r['absmax']}"

    # Rendered, not only present: bar and histogram colours are on the screenshot.
    assert pixels_of(image, "#2e7d32") + pixels_of(image, "#ef8f00") + pixels_of(image, "#c62828") > 2000
    assert pixels_of(image, "#90a4ae") > 5000
    assert pixels_of(image, "#1565c0") > 100, "the entropy (chosen) lines are drawn"


def test_hostile_names_stay_text(tmp_path, octet):
    """Node and tensor names are the model author's: markup in them must show as text, never run."""
    import numpy as np
    import models

    model = models.mini_encoder(17)
    evil = "<script>console.error('injected')</script><b onmouseover=\"x\">&'"
    node = next(n for n in model.graph.node if n.op_type == "MatMul" and n.name)
    old = node.output[0]
    node.name = evil
    for other in model.graph.node:
        other.input[:] = [evil + "/out" if i == old else i for i in other.input]
    node.output[0] = evil + "/out"
    onnx.save(model, str(tmp_path / "model.onnx"))
    np.savez(tmp_path / "calib.npz", **models.encoder_feeds(8, 9, seed=1))
    octet("convert", tmp_path / "model.onnx", "--int8", "--calibration-data", tmp_path / "calib.npz", "--eval-data", tmp_path / "calib.npz",
          "-o", tmp_path / "int8.onnx", "--report", tmp_path / "report.html")
    dom, console, _ = render(tmp_path / "report.html", height=600)
    assert console == [], console
    page = parse(dom)
    assert not any(t == "b" and "onmouseover" in a for t, a in page.tags)
    assert sum(1 for t, _ in page.tags if t == "script") == 1, "only the page's own script"
    assert any(evil in title for title in page.titles), "the name shows as text"
