"""What the CLI shows of gallery image versions: `aibtrigger versions` and `aibtrigger prune`."""

from __future__ import annotations

from itertools import groupby


def size_text(size: int | None) -> str:
    if size is None:
        return "?"
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if amount < 1024 or unit == "TiB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    raise AssertionError("unreachable")


def print_versions(rows: list[dict]) -> None:
    """`versions`: per gallery image, its versions oldest first; `*` marks what `latest` resolves to;
    with a retention policy, what `prune` would do with each."""
    if not rows:
        print("no image versions yet")
        return
    for image, versions in groupby(rows, key=lambda r: r["gallery_image"]):
        print(f"gallery image {image}")
        print(
            f"  {'VERSION':14} {'STATE':12} {'AGE':>7}  {'END OF LIFE':11} {'SIZE':>10}  {'RUN':40} SOURCE, FINGERPRINT"
        )
        for row in versions:
            print(_version_line(row))


def _version_line(row: dict) -> str:
    made, retention = row["provenance"], row.get("retention")
    age = f"{row['age_days']:.1f}d" if row["age_days"] is not None else "?"
    end = (row["end_of_life"] or "-")[:10]
    state = row["state"] if row["provisioning_state"] == "Succeeded" else row["provisioning_state"]
    origin = (
        f"{made['run_id']:40} {made['source_version'] or '-'}, {made['fingerprint'] or '-'}"
        if made
        else "not made by aibtrigger"
    )
    mark = "*" if row["latest"] else " "
    line = f"{mark} {row['version']:14} {state:12} {age:>7}  {end:11} {size_text(row['size_bytes']):>10}  {origin}"
    return line + (f"  [prune: {retention['action']}, {retention['rule']}]" if retention else "")


def print_prune(reports, *, dry_run: bool) -> None:
    """`prune`: per template what goes (or would go), what is retired, what stays and why, the errors."""
    if not reports:
        print("no template has a retention policy (policy.retention): nothing to prune")
        return
    delete, retire = ("would delete", "would retire") if dry_run else ("deleted", "retired")
    for report in reports:
        policy = f"keep {report.keep}, min_age_days {report.min_age_days}"
        print(
            f"{report.template} ({policy}): {len(report.deleted)} {delete}, {len(report.retired)} {retire}, "
            f"{size_text(report.freed_bytes)} {'to free' if dry_run else 'freed'}"
        )
        for v in report.deleted:
            print(f"  {delete:12} {v.version:14} {size_text(v.size_bytes):>10}  {v.reason}")
        for v in report.retired:
            print(f"  {retire:12} {v.version:14} {'':>10}  endOfLifeDate {v.end_of_life:%Y-%m-%d %H:%M} UTC")
        for v in report.kept:
            print(f"  {'keep':12} {v.version:14} {'':>10}  {v.reason}")
        for v, why in report.skipped:
            print(f"  {'skipped':12} {v.version:14} {'':>10}  {why}")
        for error in report.errors:
            print(f"  error        {error}")
    freed = sum(r.freed_bytes for r in reports)
    unknown = sum(1 for r in reports for v in r.deleted if v.size_bytes is None)
    also = f" (and {unknown} version(s) of unknown size)" if unknown else ""
    print(f"{'would free' if dry_run else 'freed'}: {size_text(freed)}{also}")
