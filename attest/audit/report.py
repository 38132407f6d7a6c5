"""The audit report: one self-contained HTML file (inline CSS and SVG, no external assets)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from attest.audit import AuditReport
from attest.audit.analytics import csa_events

EXPLAIN = {
    "fleet.gpu_two_places": "The same GPU identity appeared at two sites further apart than anything can travel in the "
    "time between the two manifests. Either the identity is cloned (one of the two GPUs is not what it claims) or a "
    "manifest lies about its site. Treat it as a possible diversion until explained.",
    "fleet.gpu_cloned": "One GPU identity appears in the manifests of two different nodes at the same moment. A GPU sits "
    "in one server: one of the two nodes reports hardware it does not have.",
    "fleet.gpu_silent": "The GPU has not been listed in any manifest for longer than the allowed silence. A powered-off "
    "node explains it; so does a GPU that was removed and moved. Ask the operator which.",
    "fleet.chain_gap": "The node skipped sequence numbers: manifests it signed are missing from this audit (lost, "
    "withheld, or not yet collected).",
    "fleet.chain_fork": "The node signed two different manifests under one sequence number: its key was used twice "
    "(cloned key or rolled-back state). Nothing it signed after the fork can be ordered with confidence.",
    "registry.wrong_site": "The chip is attested at a site other than the one it is registered and licensed for.",
    "registry.identity_mismatch": "A GPU carries the UUID of one registered chip and the serial of another: it is one chip, not two.",
    "registry.not_seen": "A registered chip appears in no manifest: where it is cannot be shown.",
    "registry.unregistered": "A GPU is attested that the chip registry does not list.",
    "registry.declared_only": "Registered chips are seen only under the serials or UUIDs the node declared, in manifests "
    "whose GPUs no verified device certificate backs: their presence is the operator's word, not proof. Bind the "
    "GPUs (attest bind) so that their devices show them.",
    "fleet.gpu_identity_changed": "One GPU device (its verified device certificate) was listed under more than one "
    "declared UUID or serial: one chip is standing in for others, which are then not shown present.",
    "fleet.gpu_identity_reused": "One declared UUID or serial was worn by different GPU devices (verified device "
    "certificates): a UUID or serial names one chip, so at least one of them is spoofed.",
}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#1d2433;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:2px solid #e3e7ee;padding-bottom:.3rem}
.sub{color:#5a6477}.badge{display:inline-block;padding:.15rem .55rem;border-radius:.8rem;font-size:.85rem;font-weight:600}
.affirming{background:#e3f6e8;color:#17692e}.warning{background:#fff3d6;color:#8a5a00}.contraindicated{background:#fde2e1;color:#9b1c1c}
.none{background:#eceff4;color:#4c566a}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}
th,td{text-align:left;padding:.35rem .6rem;border-bottom:1px solid #e3e7ee;vertical-align:top;font-size:.92rem}
th{background:#f6f8fb;font-weight:600}.grid{display:flex;flex-wrap:wrap;gap:1rem}.grid .card{flex:1 1 230px}
.card{border:1px solid #e3e7ee;border-radius:.5rem;padding:.7rem 1rem}.card h3{margin:.1rem 0 .4rem;font-size:1rem}
.explain{color:#5a6477;font-size:.88rem;margin:.2rem 0 0}code{font-size:.85rem;background:#f6f8fb;padding:0 .25rem;border-radius:.2rem}
nav{position:sticky;top:0;background:#fff;padding:.4rem 0;border-bottom:1px solid #e3e7ee;font-size:.92rem;z-index:1}
nav a{color:#1f4fa3;text-decoration:none}.lead{font-weight:600}.ok{color:#17692e;font-weight:600}
.failure{border:1px solid #e3e7ee;border-left-width:6px;border-radius:.4rem;padding:.4rem .9rem;margin:.6rem 0}
.failure h3{margin:.2rem 0;font-size:1rem}.failure .msg{margin:.2rem 0}.failure .count{color:#5a6477;font-weight:600}
.contraindicated-edge{border-left-color:#c0392b}.warning-edge{border-left-color:#e0a000}.none-edge{border-left-color:#7a8496}
.items{margin:.2rem 0;font-size:.9rem}summary{cursor:pointer;color:#1f4fa3}
.map{border:1px solid #e3e7ee;border-radius:.5rem;margin:1rem 0;overflow:hidden}.map svg{width:100%;height:auto;display:block}
"""


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def _counts(title: str, counts: dict[str, int], unit: str = "manifests") -> str:
    rows = "".join(
        f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in sorted(counts.items(), key=lambda x: -x[1])
    )
    return f'<div class="card"><h3>{escape(title)}</h3><table><tr><th>value</th><th>{unit}</th></tr>{rows}</table></div>'


def _failures(report: AuditReport) -> list[str]:
    """The first section: every cause of failure, worst first, with its count and who it touches."""
    groups = report.failures()
    parts = ["<section id='failures'><h2>What failed</h2>"]
    if not groups:
        parts.append(
            "<p class='ok'>Nothing failed: every envelope is affirming and no anomaly across manifests.</p>"
        )
        return [*parts, "</section>"]
    bad = {
        s: sum(1 for r in report.results if r.status.value == s)
        for s in ("contraindicated", "none", "warning")
    }
    said = [f"{n} of {len(report.results)} envelopes {s}" for s, n in bad.items() if n]
    fleet = sum(g.count for g in groups if g.fleet)
    if fleet:
        said.append(f"{fleet} finding(s) across manifests")
    parts.append(f"<p class='lead'>{escape('; '.join(said))}. Grouped by cause, worst first:</p>")
    for g in groups:
        plural = "s" if g.count != 1 else ""
        what = f"finding{plural} across manifests" if g.fleet else f"envelope{plural}"
        explain = EXPLAIN.get(g.rule, "")
        nodes = g.by_node()
        where = (
            f"<p class='sub'>on {len(nodes)} nodes: {escape(', '.join(f'{n} ({k})' for n, k in nodes))}</p>"
            if g.count > 1 and len(nodes) > 1
            else ""
        )
        listed = "".join(
            f"<li>{escape(item)}"
            + (f"<br><span class='sub'>{escape(m)}</span>" if m != g.message else "")
            + "</li>"
            for item, m in list(zip(g.items, g.messages, strict=True))[:200]
        )
        more = f"<li>… and {g.count - 200} more (see the JSON output)</li>" if g.count > 200 else ""
        inline = g.count <= 3
        parts.append(
            f"<div class='failure {escape(g.status)}-edge' data-rule='{escape(g.rule)}' data-count='{g.count}'>"
            f"<h3>{_badge(g.status)} <code>{escape(g.rule)}</code> <span class='count'>× {g.count} "
            f"{what}</span></h3>"
            f"<p class='msg'>{escape(g.message)}</p>"
            + (f"<p class='explain'>{escape(explain)}</p>" if explain else "")
            + where
            + (
                f"<ul class='items'>{listed}{more}</ul>"
                if inline
                else f"<details><summary>all {g.count}</summary><ul class='items'>{listed}{more}</ul></details>"
            )
            + "</div>"
        )
    return [*parts, "</section>"]


def render_html(
    report: AuditReport, *, title: str = "compute-attest audit", maps: Sequence[tuple[str, str]] = ()
) -> str:
    """The report as HTML text: what failed first (grouped by cause, with counts), then the details."""
    status = report.status.value
    nav = [("failures", "What failed"), ("summary", "Summary"), ("csa", "Chip Security Act events")]
    nav += [("fleet", "Fleet findings"), ("manifests", "Manifests not clean")]
    if maps:
        nav.append(("maps", "Location proofs"))
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)} {_badge(status)}</h1>",
        f"<p class='sub'>{len(report.results)} envelopes verified, {len(report.summaries)} authenticated; "
        f"audited at {escape(report.now.isoformat())}; "
        + (
            "each manifest judged as of its own issue time"
            if report.as_of == "issued"
            else "every manifest judged as of the audit time"
        )
        + ". Not legal advice.</p>",
        "<nav>" + " · ".join(f"<a href='#{a}'>{escape(t)}</a>" for a, t in nav) + "</nav>",
        *_failures(report),
        "<section id='summary'><h2>Summary</h2><div class='grid'>",
        _counts("status", report.counts.get("by_status", {})),
        _counts("site", report.counts.get("by_site", {})),
        _counts("tenant", report.counts.get("by_tenant", {})),
        _counts("chip class", report.counts.get("by_chip_class", {}), "GPU entries"),
        "</div></section>",
    ]
    events = csa_events(report.results, report.fleet)
    parts.append("<section id='csa'><h2>Chip Security Act reportable events</h2>")
    if events:
        parts.append("<table><tr><th>event</th><th>indicated by</th></tr>")
        for event, items in events.items():
            shown = "".join(f"<li>{escape(i)}</li>" for i in items[:20])
            more = f"<li>… and {len(items) - 20} more</li>" if len(items) > 20 else ""
            parts.append(f"<tr><td><b>{escape(event)}</b></td><td><ul>{shown}{more}</ul></td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None indicated.</p>")
    parts.append("</section><section id='fleet'><h2>Fleet findings</h2>")
    fleet_groups = [g for g in report.failures() if g.fleet]
    if fleet_groups:
        # One row per cause: the explanation once, the occurrences folded (48 silent GPUs are one row).
        parts.append("<table><tr><th>severity</th><th>finding</th></tr>")
        for g in fleet_groups:
            explain = EXPLAIN.get(g.rule, "")
            listed = "".join(f"<li>{escape(m)}</li>" for m in g.messages[:500])
            body = (
                f"<ul>{listed}</ul>"
                if g.count == 1
                else f"<details><summary>{g.count} occurrences</summary><ul>{listed}</ul></details>"
            )
            parts.append(
                f"<tr><td>{_badge(g.status)}</td><td><code>{escape(g.rule)}</code> × {g.count}"
                + (f"<p class='explain'>{escape(explain)}</p>" if explain else "")
                + body
                + "</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>No anomaly across manifests.</p>")
    bad = [r for r in report.results if r.status.value != "affirming"]
    parts.append(
        f"</section><section id='manifests'><h2>Manifests that did not verify cleanly ({len(bad)})</h2>"
    )
    if bad:
        parts.append("<table><tr><th>manifest</th><th>status</th><th>findings</th></tr>")
        for r in bad[:500]:
            listed = "".join(
                f"<li><code>{escape(f.rule)}</code> {escape(f.message)}</li>"
                for f in r.findings
                if f.severity.value != "info"
            )
            parts.append(
                f"<tr><td>{escape(r.source or '-')}<br><span class='sub'>{escape(r.node or '')}</span></td>"
                f"<td>{_badge(r.status.value)}</td><td><ul>{listed}</ul></td></tr>"
            )
        parts.append("</table>")
        if len(bad) > 500:
            parts.append(f"<p class='sub'>… and {len(bad) - 500} more (see the JSON output).</p>")
    parts.append("</section>")
    if maps:
        parts.append("<section id='maps'><h2>Location proofs</h2>")
        for caption, svg in maps:
            parts.append(f"<div class='map'>{svg}</div><p class='sub'>{escape(caption)}</p>")
        parts.append("</section>")
    parts.append(
        "<p class='sub'>Generated by compute-attest. Every finding names the rule that produced it; "
        "the JSON output (<code>attest audit --format json</code>) carries the same data.</p></body></html>"
    )
    return "\n".join(parts) + "\n"
