"""The validation report: ``report.json`` and a self-contained ``index.html``.

The HTML page embeds its images (PNG data URIs), so it can be moved or mailed on its own. It
shows, from the top: one line per building (a failing building is a red row), then for each
building the parameters used (preset, fitted and given ones; what was fitted per view, with
the views that disagree with the building's value), a table per label (files, passed, failed,
unchecked, median metrics; red when any file fails, grey when none could be checked), then the
worst files of each label with thumbnails side by side: shipped | recomputed | difference
heat-map, then the unchecked files in grey with their reasons, and the notes on how files were
read.

No timestamps or absolute paths are written, so the same validation gives the same bytes.
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import cv2
import numpy as np

from labelgen.io._images import encode_png, write_bytes_atomic, write_json
from labelgen.engine._pipeline import resolve_params

THUMB = 192  # longest side of a thumbnail, pixels


def _downscale(image: np.ndarray, how: str | None = "mean") -> np.ndarray:
    """Shrink to at most THUMB pixels per side by an integer factor ``k``: ``"mean"`` (area
    average), ``"max"`` (largest value of each k x k block) or None (each block's first pixel)."""
    h, w = image.shape[:2]
    k = max(1, math.ceil(max(h, w) / THUMB))
    if k == 1:
        return image
    if how == "mean":
        return cv2.resize(image, (max(1, w // k), max(1, h // k)), interpolation=cv2.INTER_AREA)
    if how == "max":
        image = cv2.dilate(image, np.ones((k, k), np.uint8), anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(image[::k, ::k])


def _palette(ids: np.ndarray) -> np.ndarray:
    """A fixed, well-spread colour per segment id."""
    ids = ids.astype(np.uint32) + np.uint32(1)
    h = (ids * np.uint32(2654435761)) & np.uint32(0xFFFFFF)
    return np.stack([(h >> 16) & 255, (h >> 8) & 255, h & 255], axis=-1).astype(np.uint8)


def display(label: str, image: np.ndarray, lo=None, hi=None) -> np.ndarray:
    """A uint8 RGB picture of one encoded label image: segment ids as colours, 8-bit images
    as stored, 16-bit ones stretched from ``lo`` to ``hi`` (default: the 1st and 99th
    percentile of the values below 65535; 65535 black)."""
    if label.startswith("segment_"):
        return _palette(image)
    if image.ndim == 3:
        return image
    if image.dtype == np.uint8:  # masks: as stored
        return np.repeat(image[:, :, None], 3, axis=2)
    if lo is None or hi is None:
        lo, hi = _range(image)
    g = np.clip((image.astype(np.float64) - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    g[image == 65535] = 0
    return np.repeat(g[:, :, None], 3, axis=2)


def _range(*images):
    vals = np.concatenate([im[im < 65535].ravel() for im in images])
    lo, hi = (float(np.percentile(vals, 1)), float(np.percentile(vals, 99))) if vals.size else (0.0, 1.0)
    return lo, max(hi, lo + 1.0)


def thumbnails(label: str, shipped: np.ndarray, recomputed: np.ndarray):
    """Small (shipped, recomputed, difference) arrays of a compared pair, for the report.

    The difference is computed at full size (segmentations: pixels whose shipped segment is
    mostly another recomputed segment) and shrunk by taking each block's maximum, so that a
    single differing pixel stays visible.
    """
    if label.startswith("segment_"):
        pair = shipped.astype(np.int64) * 256 + recomputed
        counts = np.bincount(pair.ravel(), minlength=256 * 256).reshape(256, 256)
        diff = (counts.argmax(axis=1)[shipped] != recomputed).astype(np.float32)
        return _downscale(shipped, None), _downscale(recomputed, None), _downscale(diff, "max")
    d = np.abs(shipped.astype(np.int32) - recomputed.astype(np.int32))
    diff = (d.max(axis=2) if d.ndim == 3 else d).astype(np.float32)
    how = None if shipped.dtype == np.uint16 else "mean"  # no averaging with 65535
    return _downscale(shipped, how), _downscale(recomputed, how), _downscale(diff, "max")


def visualise_pair(label: str, shipped: np.ndarray, recomputed: np.ndarray, diff: np.ndarray):
    """Display images (uint8 RGB) of :func:`thumbnails`: shipped, recomputed (one grey scale
    for both) and the difference as a heat-map."""
    lo = hi = None
    if shipped.ndim == 2 and shipped.dtype == np.uint16:
        lo, hi = _range(shipped, recomputed)
    a, b = display(label, shipped, lo, hi), display(label, recomputed, lo, hi)
    scaled = np.zeros(diff.shape, np.uint8)
    if diff.max() > 0:
        scaled = np.clip(np.sqrt(diff / diff.max()) * 255.0, 0, 255).astype(np.uint8)
        scaled[diff > 0] = np.maximum(scaled[diff > 0], 40)  # any difference stays visible
    heat = cv2.applyColorMap(scaled, cv2.COLORMAP_INFERNO)[:, :, ::-1]
    return a, b, np.ascontiguousarray(heat)


def _data_uri(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(encode_png(np.ascontiguousarray(image))).decode()


def _fmt(v, kind="frac"):
    if v is None:
        return "&ndash;"
    if kind == "frac":
        return f"{100 * v:.3f}&nbsp;%" if v < 1 else "100&nbsp;%"
    if kind == "r":
        return f"{v:.4f}"
    return html.escape(f"{v:g}")


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.2em 2em;color:#222;background:#fff}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.6em 0 .4em;padding:.3em .5em;border-radius:4px}
h2.ok{background:#e4f5e4}h2.fail{background:#fbdada}
table{border-collapse:collapse;margin:.4em 0}td,th{padding:.25em .7em;border-bottom:1px solid #ddd;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child,td.l{text-align:left}
tr.fail td{background:#fde8e8}tr.ok td.status{color:#17702a;font-weight:600}tr.fail td.status{color:#b00;font-weight:700}
tr.unchecked td{background:#eeeeee;color:#666}tr.unchecked td.status{color:#666;font-weight:600}
h2.unchecked{background:#e6e6e6}ul.unchecked{color:#666}ul.unchecked b{color:#444}ul.notes{color:#445}
td.dissent{color:#a05a00;font-weight:700}
.banner{font-size:1.25em;padding:.5em .8em;border-radius:6px;margin:.6em 0;font-weight:600}
.banner.ok{background:#d9f2d9;color:#145a20}.banner.fail{background:#f8caca;color:#8a0000}
.banner.unchecked{background:#e4ece4;color:#145a20}
.params{font:12px monospace;color:#444}.params b{color:#000}
.worst{display:flex;flex-wrap:wrap;gap:14px}.card{border:1px solid #ccc;border-radius:6px;padding:6px;width:max-content}
.card.fail{border-color:#d33;background:#fff5f5}.card img{image-rendering:pixelated;display:block}
.cap{font-size:12px;max-width:590px;word-wrap:break-word;margin-bottom:4px}.trio{display:flex;gap:4px}
figure{margin:0;text-align:center}figcaption{font-size:11px;color:#555}details{margin:.8em 0}summary{cursor:pointer;color:#335}
ul.errors{color:#8a0000}
"""


def write_report(report, out, kept: dict | None = None) -> Path:
    """Write ``out/report.json`` and ``out/index.html``; returns the HTML path.

    ``report`` is a :class:`~labelgen.validate.ValidationReport` (its thumbnails go to the page),
    or a report.json object with ``kept``, the thumbnails by record index."""
    if hasattr(report, "to_dict"):
        report, kept = report.to_dict(), report.kept if kept is None else kept
    kept = kept or {}
    out = Path(out)
    write_json(out / "report.json", report)
    page = render_html(report, kept)
    path = out / "index.html"
    write_bytes_atomic(path, page.encode("utf-8"))
    return path


def render_html(report: dict, kept: dict) -> str:
    records = report["files"]
    summary = report["summary"]
    defaults = resolve_params({})
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>labelgen validation report</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>labelgen validation report</h1><div class='params'>labelgen {html.escape(report['labelgen_version'])}</div>"]
    nu = summary.get("unchecked", 0)
    if summary["failed"]:
        banner, head = "fail", "FAILURES"
    else:
        banner, head = ("unchecked", "NO FAILURES") if nu else ("ok", "ALL PASSED")
    parts.append(f"<div class='banner {banner}' id='verdict'>{head}: {summary['passed']} of {summary['files']} "
                 f"files passed, {summary['failed']} failed, {nu} unchecked"
                 + (" (could not be checked: reasons in grey below)" if nu else "") + "</div>")
    buildings: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        key = r["building"] if r["component"] is None else f"{r['component']}/{r['building']}"
        buildings.setdefault(key, []).append(i)
    for key in report["params"]:
        buildings.setdefault(key, [])
    # one line per building, failing ones first
    parts.append("<table id='buildings'><tr><th>building</th><th>component</th><th>preset</th><th>files</th>"
                 "<th>passed</th><th>failed</th><th>unchecked</th><th>status</th></tr>")

    def count(idx, verdict):
        return sum(records[i]["verdict"] == verdict for i in idx)

    order = sorted(buildings, key=lambda k: (-count(buildings[k], "failed"), k))
    for key in order:
        idx = buildings[key]
        nf, np_, nu = count(idx, "failed"), count(idx, "passed"), count(idx, "unchecked")
        comp = records[idx[0]]["component"] if idx else None
        cls = "fail" if nf else ("ok" if np_ else "unchecked")
        status = "FAIL" if nf else ("OK" if np_ else "nothing checked")
        parts.append(f"<tr class='{cls}'><td><a href='#b-{_anchor(key)}'>{html.escape(key)}</a></td>"
                     f"<td class='l'>{html.escape(comp or '-')}</td>"
                     f"<td class='l'>{html.escape(str(report.get('presets', {}).get(key) or '-'))}</td>"
                     f"<td>{len(idx)}</td><td>{np_}</td><td>{nf}</td><td>{nu}</td>"
                     f"<td class='status'>{status}</td></tr>")
    parts.append("</table>")
    rows_by_building: dict[str, list[dict]] = {}
    for row in summary["by_label"]:
        key = row["building"] if row["component"] is None else f"{row['component']}/{row['building']}"
        rows_by_building.setdefault(key, []).append(row)
    for key in order:
        idx = buildings[key]
        nf, np_, nu = count(idx, "failed"), count(idx, "passed"), count(idx, "unchecked")
        cls = "fail" if nf else ("ok" if np_ else "unchecked")
        title = (f"FAILED {nf} of {len(idx)}" if nf
                 else f"all {np_} checked files passed" if np_ else "nothing checked")
        parts.append(f"<h2 id='b-{_anchor(key)}' class='{cls}'>{html.escape(key)} &mdash; {title}"
                     + (f", {nu} unchecked" if nu else "") + "</h2>")
        params = report["params"].get(key, {})
        fitted = report.get("fitted", {}).get(key, {}) or {}
        shown = [f"<b>{html.escape(k)}={html.escape(_short(v))}</b>" + (" (fitted)" if k in fitted else "")
                 for k, v in params.items() if k in fitted or defaults.get(k) != v]
        parts.append("<div class='params'>parameters: " + (", ".join(shown) if shown else "Taskonomy defaults")
                     + f"; preset: {html.escape(str(report.get('presets', {}).get(key) or 'none'))}</div>")
        parts.append(_fitted_views(fitted))
        if fitted.get("not_fitted"):
            parts.append("<div class='params'>not fitted (the value above is kept): " + "; ".join(
                f"<b>{html.escape(k)}</b>: {html.escape(v)}" for k, v in fitted["not_fitted"].items()) + "</div>")
        parts.append("<table class='summary'><tr><th>label</th><th>files</th><th>passed</th><th>failed</th>"
                     "<th>unchecked</th><th>median exact</th><th>median within 1</th><th>median ARI</th>"
                     "<th>median Pearson r</th></tr>")
        for row in rows_by_building.get(key, []):
            rcls = "fail" if row["failed"] else ("ok" if row["passed"] else "unchecked")
            parts.append(f"<tr class='{rcls}'><td>{html.escape(row['label'])}</td>"
                         f"<td>{row['files']}</td><td>{row['passed']}</td><td>{row['failed']}</td>"
                         f"<td>{row.get('unchecked', 0)}</td>"
                         f"<td>{_fmt(row['median_exact'])}</td><td>{_fmt(row['median_within1'])}</td>"
                         f"<td>{_fmt(row['median_ari'], 'r')}</td><td>{_fmt(row['median_pearson'], 'r')}</td></tr>")
        parts.append("</table>")
        cards = [i for i in idx if i in kept]
        bad_cards = [i for i in cards if records[i]["verdict"] == "failed"]
        good_cards = [i for i in cards if records[i]["verdict"] == "passed"]
        errors = [i for i in idx if i not in kept and records[i]["verdict"] == "failed"]
        if bad_cards or errors:
            parts.append("<h3>failed files</h3>")
        if bad_cards:
            parts.append("<div class='worst'>" + "".join(_card(records[i], kept[i]) for i in bad_cards) + "</div>")
        if errors:
            parts.append("<ul class='errors'>" + "".join(
                f"<li><b>{html.escape(records[i]['label'])}</b> point {html.escape(records[i]['point'])} view "
                f"{html.escape(records[i]['view'])}: {html.escape(records[i]['error'] or 'failed')}</li>"
                for i in errors[:50]) + (f"<li>... and {len(errors) - 50} more</li>" if len(errors) > 50 else "")
                + "</ul>")
        if good_cards:
            parts.append(f"<details><summary>worst passing files ({len(good_cards)})</summary><div class='worst'>"
                         + "".join(_card(records[i], kept[i]) for i in good_cards) + "</div></details>")
        parts.append(_unchecked([records[i] for i in idx if records[i]["verdict"] == "unchecked"]))
        parts.append(_notes([records[i] for i in idx]))
    parts.append("</body></html>\n")
    return "".join(parts)


def _views_text(recs, limit=12) -> str:
    names = [f"{r['label']} point {r['point']} view {r['view']}" for r in recs]
    more = f", ... and {len(names) - limit} more" if len(names) > limit else ""
    return html.escape(", ".join(names[:limit])) + more


def _unchecked(recs) -> str:
    """The unchecked files in grey, grouped by reason."""
    if not recs:
        return ""
    by_reason: dict[str, list] = {}
    for r in recs:
        by_reason.setdefault(r.get("reason") or "not checked", []).append(r)
    items = "".join(f"<li><b>{html.escape(reason)}</b> ({len(rs)} file{'s' if len(rs) != 1 else ''}): "
                    f"{_views_text(rs)}</li>" for reason, rs in sorted(by_reason.items(), key=lambda kv: -len(kv[1])))
    return f"<h3>unchecked files ({len(recs)})</h3><ul class='unchecked'>{items}</ul>"


def _notes(recs) -> str:
    """Notes on the records (how files were read, fitted values used), grouped by note."""
    by_note: dict[str, list] = {}
    for r in recs:
        for n in r.get("notes") or ():
            by_note.setdefault(n, []).append(r)
    if not by_note:
        return ""
    items = "".join(f"<li>{html.escape(n)}: {_views_text(rs, 6)}</li>" for n, rs in sorted(by_note.items()))
    return f"<details><summary>notes ({len(by_note)})</summary><ul class='notes'>{items}</ul></details>"


def _fitted_views(fitted: dict) -> str:
    """The per-view part of what was fitted: a table of views (field of view, canny_sigma), the
    values that disagree with the building's in bold orange."""
    views = fitted.get("views") or {}
    if not views:
        return ""
    dissent = {(k, v) for k, vs in (fitted.get("dissenters") or {}).items() for v in vs}
    rows = []
    for name, vals in views.items():
        fov = vals.get("fov")
        fov_txt = f"{fov:.4f} rad ({math.degrees(fov):.2f}&deg;) from {html.escape(vals.get('fov_from', '?'))}" \
            if fov is not None else "&ndash;"
        sigma = vals.get("canny_sigma")
        cls = " class='dissent'" if ("canny_sigma", name) in dissent else ""
        rows.append(f"<tr><td>{html.escape(name)}</td><td class='l'>{fov_txt}</td>"
                    f"<td{cls}>{_short(sigma) if sigma is not None else '&ndash;'}</td></tr>")
    said = "; ".join(f"{html.escape(k)}: {len(v)} view{'s differ' if len(v) != 1 else ' differs'} from the building's "
                     f"{html.escape(_short(fitted.get(k)))} ({html.escape(', '.join(v))})"
                     for k, v in (fitted.get("dissenters") or {}).items())
    return ("<details open><summary>fitted per view" + (f" &mdash; {said}" if said else "") + "</summary>"
            "<table class='fitted'><tr><th>view</th><th>field of view</th><th>canny_sigma</th></tr>"
            + "".join(rows) + "</table></details>")


def _card(r, arrays) -> str:
    """One file: caption, then shipped | recomputed | difference thumbnails."""
    a, b, d = visualise_pair(r["label"], *arrays)
    figs = "".join(f"<figure><img alt='{name}' src='{_data_uri(img)}'><figcaption>{name}</figcaption></figure>"
                   for name, img in (("shipped", a), ("recomputed", b), ("difference", d)))
    return (f"<div class='card {'ok' if r['passed'] else 'fail'}'><div class='cap'><b>{html.escape(r['label'])}"
            f"</b> point {html.escape(r['point'])} view {html.escape(r['view'])}: "
            f"{'passed' if r['passed'] else 'FAILED'}{_metrics(r)}</div><div class='trio'>{figs}</div></div>")


def _metrics(r):
    bits = []
    if r["exact"] is not None:
        bits.append(f"exact {_fmt(r['exact'])}, within 1 {_fmt(r['within1'])}, max |d| {r['max_abs']}")
    if r["ari"] is not None:
        bits.append(f"ARI {r['ari']:.4f}")
    if r["pearson"] is not None:
        bits.append(f"r {r['pearson']:.4f}")
    if r["bbox"] is not None:
        bits.append("region " + html.escape(json.dumps(r["bbox"])))
    if r["error"]:
        bits.append(html.escape(r["error"]))
    for n in r.get("notes") or ():
        bits.append("<i>" + html.escape(n) + "</i>")
    return (" &mdash; " + "; ".join(bits)) if bits else ""


def _short(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _anchor(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in key)
