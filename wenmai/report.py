"""report.html: one run's output as a page a person reads, built from its manifest and tables.

Self-contained (inline CSS and SVG, no script, nothing fetched), so it opens from a bucket, an
e-mail attachment or a machine without network. Sections: counts and the balance, time per
stage, the largest clusters (size, title, keywords, five member titles), the top triples with
their sentences, dead-letter reasons and the input files. The job writes it beside
manifest.json; `wenmai report RUN_DIR` rebuilds it from what the run left.

Only the few rows shown are read in full: documents are scanned by (doc_id, cluster_id, title)
first, and texts are read only for the documents the page shows.
"""
from __future__ import annotations

import html
import json
from typing import Any, Iterable, Optional

from apache_beam.io.filesystems import FileSystems

from wenmai.output import MANIFEST

REPORT = "report.html"
TOP_CLUSTERS = 20
MEMBERS = 5  # member titles shown per cluster
TOP_TRIPLES = 20
SNIPPET_CHARS = 60  # a member without a title shows this much of its text
SENTENCE_END = "。！？!?；;\n"

CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC","Microsoft YaHei",sans-serif;
 margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1f2328;line-height:1.45}
h1{font-size:1.5rem;margin-bottom:.2rem} h2{font-size:1.15rem;margin-top:2rem;
 border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;font-size:.9rem} th,td{text-align:left;
 padding:.3rem .5rem;border-bottom:1px solid #eaeef2;vertical-align:top}
th{background:#f6f8fa} td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:600} .bad{color:#cf222e;font-weight:600}
.muted{color:#656d76} .kw{display:inline-block;background:#ddf4ff;border-radius:3px;
 padding:0 .3rem;margin:0 .2rem .2rem 0;font-size:.8rem}
mark.s{background:#fff8c5} mark.o{background:#dafbe1} code{font-size:.8rem}
ul.members{margin:0;padding-left:1.1rem}
"""


# --------------------------------------------------------------------------------------------------
# reading what the run wrote


def _table_files(directory: str, table: str) -> list[str]:
    pattern = FileSystems.join(directory, table, "*.parquet")
    return sorted(m.path for m in FileSystems.match([pattern])[0].metadata_list)


def _read(directory: str, table: str, columns: list[str]) -> list[dict]:
    import pyarrow.parquet as pq

    rows = []
    for path in _table_files(directory, table):
        with FileSystems.open(path) as f:
            rows += pq.read_table(f, columns=columns).to_pylist()
    return rows


def _texts(directory: str, doc_ids: set[str]) -> dict[str, str]:
    """doc_id -> text for just these documents (row groups are read one file at a time)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    out: dict[str, str] = {}
    if not doc_ids:
        return out
    wanted = list(doc_ids)
    for path in _table_files(directory, "documents"):
        with FileSystems.open(path) as f:
            table = pq.read_table(f, columns=["doc_id", "text"])
        table = table.filter(pc.is_in(table.column("doc_id"), value_set=pa.array(wanted)))
        out.update(zip(table.column("doc_id").to_pylist(), table.column("text").to_pylist()))
    return out


def sentence_around(text: str, start: int, end: int, limit: int = 160) -> tuple[int, int]:
    """The sentence (between sentence-ending marks) holding text[start:end], at most `limit`
    characters, as (begin, end) offsets.

    Example: sentence_around("天气很好。华为总部位于深圳。再见", 5, 7) == (5, 14)
    """
    begin = max((text.rfind(ch, 0, start) for ch in SENTENCE_END), default=-1) + 1
    stops = [i for i in (text.find(ch, end) for ch in SENTENCE_END) if i >= 0]
    stop = min(stops) + 1 if stops else len(text)
    if stop - begin > limit:
        begin = max(begin, start - limit // 3)
        stop = min(stop, max(end, begin + limit))
    return begin, stop


# --------------------------------------------------------------------------------------------------
# HTML pieces


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _num(value: Optional[float]) -> str:
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3g}"


def _table(headers: list[str], rows: Iterable[list[str]], numeric: Iterable[int] = ()) -> str:
    numeric = set(numeric)
    head = "".join(f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    thead = f"<thead><tr>{head}</tr></thead>" if any(headers) else ""
    return f"<table>{thead}<tbody>{body}</tbody></table>"


def bar_chart(values: dict[str, float], unit: str = "s", width: int = 720) -> str:
    """Horizontal bars as inline SVG, one per label, longest = full width."""
    if not values:
        return '<p class="muted">The runner reported no per-stage times.</p>'
    label_w, row_h, top = 150, 22, max(values.values()) or 1.0
    bar_w = width - label_w - 90
    rows = []
    for i, (label, value) in enumerate(values.items()):
        y = i * row_h
        w = max(1.0, bar_w * value / top)
        rows.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{_e(label)}'
            f'</text><rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" '
            f'fill="#54aeff"/><text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="12">'
            f'{value:,.2f} {unit}</text>')
    height = row_h * len(values)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'role="img" aria-label="time per stage">{"".join(rows)}</svg>')


def _summary(m: dict) -> str:
    b = m.get("balance", {})
    ok = b.get("balanced")
    status = m.get("status", "published")
    status_html = (f'<span class="ok">{_e(status)}</span>' if status == "published" else
                   f'<span class="bad">{_e(status)}</span>')
    balance = (f'records read {_num(b.get("records_read"))} = documents {_num(b.get("documents"))}'
               f' + dead letters {_num(b.get("dead_letter"))} '
               + ('<span class="ok">balanced</span>' if ok else '<span class="bad">NOT balanced'
                                                                 '</span>'))
    failure = (f'<p class="bad">{_e(m["failure"])}</p>' if m.get("failure") else "")
    counts = _table(["table", "rows"], ([_e(k), _num(v)] for k, v in m.get("counts", {}).items()),
                    numeric=[1])
    facts = [["status", status_html], ["started", _e(m.get("started_at"))],
             ["finished", _e(m.get("finished_at"))], ["seconds", _num(m.get("seconds"))],
             ["output", f"<code>{_e(m.get('output'))}</code>"], ["balance", balance]]
    clusters = m.get("clusters") or {}
    if clusters:
        facts.append(["InfoMap", f"{_num(clusters.get('clusters'))} clusters, "
                                 f"{_num(clusters.get('singletons'))} singletons, codelength "
                                 f"{_num(clusters.get('codelength'))}"])
    return (failure + _table(["", ""], facts) + "<h2>Counts</h2>" + counts)


def _clusters(directory: str):
    """(render(texts) -> the clusters table, doc_ids whose text it needs: untitled members)."""
    clusters = sorted(_read(directory, "clusters", ["cluster_id", "size", "title", "keywords"]),
                      key=lambda c: (-c["size"], c["cluster_id"]))[:TOP_CLUSTERS]
    shown = {c["cluster_id"] for c in clusters}
    members: dict[int, list[dict]] = {}
    for d in _read(directory, "documents", ["doc_id", "cluster_id", "title", "duplicate_of"]):
        if d["cluster_id"] in shown and not d["duplicate_of"]:
            members.setdefault(d["cluster_id"], []).append(d)
    picked = {cid: sorted(docs, key=lambda d: d["doc_id"])[:MEMBERS] for cid, docs in members.items()}
    need = {d["doc_id"] for docs in picked.values() for d in docs if not d["title"]}
    return _clusters_html(clusters, picked), need


def _clusters_html(clusters, picked):
    def member(d, texts):
        return _e(d["title"] or texts.get(d["doc_id"], "")[:SNIPPET_CHARS])

    def render(texts: dict[str, str]) -> str:
        rows = []
        for c in clusters:
            kws = "".join(f'<span class="kw">{_e(k)}</span>' for k in c["keywords"] or [])
            items = "".join(f"<li>{member(d, texts)}</li>" for d in picked.get(c["cluster_id"], []))
            rows.append([_num(c["cluster_id"]), _num(c["size"]), _e(c["title"]), kws,
                         f'<ul class="members">{items}</ul>'])
        return _table(["id", "size", "title", "keywords", f"members (first {MEMBERS})"], rows,
                      numeric=[0, 1])
    return render  # texts arrive later, read together with the triples' documents


def _triples(directory: str) -> tuple[list[dict], set[str]]:
    import pyarrow.parquet as pq

    top: list[dict] = []
    for path in _table_files(directory, "triples"):
        with FileSystems.open(path) as f:
            table = pq.read_table(f)
        if table.num_rows:
            table = table.sort_by([("score", "descending")]).slice(0, TOP_TRIPLES)
            top = sorted(top + table.to_pylist(), key=lambda t: -t["score"])[:TOP_TRIPLES]
    return top, {t["doc_id"] for t in top}


def _triples_html(triples: list[dict], texts: dict[str, str]) -> str:
    if not triples:
        return '<p class="muted">No triples (extraction off, or none found).</p>'
    rows = []
    for t in triples:
        text = texts.get(t["doc_id"], "")
        lo = min(t["subject_start"], t["object_start"])
        hi = max(t["subject_end"], t["object_end"])
        begin, end = sentence_around(text, lo, hi)
        marks = sorted([(t["subject_start"], t["subject_end"], "s"),
                        (t["object_start"], t["object_end"], "o")])
        out, at = [], begin
        for s, e, cls in marks:
            if s < at or e > end:  # overlapping spans: show the sentence unmarked
                out, at = [], begin
                break
            out += [_e(text[at:s]), f'<mark class="{cls}">{_e(text[s:e])}</mark>']
            at = e
        sentence = "".join(out) + _e(text[at:end])
        rows.append([_e(t["subject"]), _e(t["predicate"]), _e(t["object"]), f'{t["score"]:.3f}',
                     sentence])
    return _table(["subject", "predicate", "object", "score", "sentence"], rows, numeric=[3])


def _dead_letters(m: dict) -> str:
    reasons = (m.get("dead_letters") or {}).get("by_reason") or []
    if not reasons:
        return '<p class="muted">No dead letters.</p>'
    return _table(["stage", "reason", "count", "example"],
                  ([_e(r["stage"]), _e(r["reason"]), _num(r["count"]), _e(r["example"])]
                   for r in reasons), numeric=[2])


def _inputs(m: dict) -> str:
    rows = []
    for f in m.get("inputs", []):
        if isinstance(f, str):  # manifests before per-file figures listed paths only
            f = {"path": f}
        sha = f.get("sha256")
        rows.append([f"<code>{_e(f.get('path'))}</code>", _num(f.get("bytes")),
                     _num(f.get("records")), f'<code title="{_e(sha)}">{_e((sha or "")[:12])}</code>'])
    return _table(["file", "bytes", "records", "sha256"], rows, numeric=[1, 2])


def render_report(directory: str, m: dict) -> str:
    """The report of the run whose tables are under `directory` and whose manifest is `m`."""
    render_clusters, need = _clusters(directory)
    triples, triple_docs = _triples(directory)
    texts = _texts(directory, need | triple_docs)
    title = f"wenmai run {m.get('run_id', '')}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">{_e(m.get("run_date") or "")}</p>',
        _summary(m),
        "<h2>Time per stage</h2>", bar_chart(m.get("stage_seconds") or {}),
        '<p class="muted">Seconds summed over workers and threads, as the runner reports them.'
        "</p>",
        f"<h2>Largest clusters (top {TOP_CLUSTERS})</h2>", render_clusters(texts),
        f"<h2>Top triples (by score, top {TOP_TRIPLES})</h2>", _triples_html(triples, texts),
        "<h2>Dead letters by reason</h2>", _dead_letters(m),
        "<h2>Input files</h2>", _inputs(m),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"zh\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")


def write_report(run_dir: str) -> str:
    """Rebuilds RUN_DIR/report.html from RUN_DIR's manifest and tables; returns its path."""
    manifest_path = FileSystems.join(run_dir, MANIFEST)
    if not FileSystems.exists(manifest_path):
        from wenmai.config import UsageError

        raise UsageError(f"no {MANIFEST} in {run_dir}: not a wenmai run directory")
    with FileSystems.open(manifest_path) as f:
        m = json.loads(f.read().decode("utf-8"))
    path = FileSystems.join(run_dir, REPORT)
    page = render_report(run_dir, m)
    with FileSystems.create(path) as f:
        f.write(page.encode("utf-8"))
    return path


def main(argv: Optional[list[str]] = None) -> int:
    """`wenmai report RUN_DIR`"""
    from wenmai.cli.args import ArgumentParser

    parser = ArgumentParser(prog="wenmai report", description="Rebuild RUN_DIR/report.html.")
    parser.add_argument("run_dir", help="a run's output directory (holding manifest.json)")
    args = parser.parse_args(argv)
    print(write_report(args.run_dir))
    return 0
